"""Pipeline and PipelineRunner: wiring, every stop path's deadline, and model work kept off the event loop."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from panikid.events import EventBus
from panikid.pipeline.frames import CancelFrame, DataFrame, EndFrame, StartFrame, TranscriptionFrame
from panikid.pipeline.processor import FrameProcessor
from panikid.pipeline.runner import Pipeline, PipelineRunner
from panikid.pipeline.testing import detect_slow_callbacks, run, run_frames, run_with_loop_checks

GUARD = 30.0  # only there so that a broken deadline fails the test instead of hanging it


class Lifecycle(FrameProcessor):
    """Records setup/cleanup calls; optionally hangs in one of them or swallows data frames."""

    def __init__(
        self,
        name: str,
        log: list[str],
        hang_setup: bool = False,
        hang_cleanup: bool = False,
        swallow: bool = False,
    ) -> None:
        super().__init__(name)
        self.log = log
        self.hang_setup = hang_setup
        self.hang_cleanup = hang_cleanup
        self.swallow = swallow

    async def setup(self, events: EventBus) -> None:
        await super().setup(events)
        self.log.append(f"setup {self.name}")
        if self.hang_setup:
            await asyncio.Event().wait()  # a model that never finishes loading

    async def cleanup(self) -> None:
        self.log.append(f"cleanup {self.name}")
        if self.hang_cleanup:
            await asyncio.Event().wait()

    async def process_frame(self, frame: DataFrame) -> None:
        if self.swallow and not isinstance(frame, StartFrame):
            return  # never forwards anything, the EndFrame included
        await self.push_frame(frame)


def test_pipeline_needs_a_processor_and_links_them_in_order() -> None:
    with pytest.raises(ValueError, match="at least one processor"):
        Pipeline([])
    a, b = FrameProcessor("a"), FrameProcessor("b")
    pipeline = Pipeline([a, b])
    assert pipeline[0] is a and pipeline[1] is b
    assert a._next is b and b._next is None


def test_runner_sets_up_in_order_sends_a_start_frame_and_stops_gracefully() -> None:
    log: list[str] = []

    async def scenario() -> None:
        procs = [Lifecycle("a", log), Lifecycle("b", log)]
        pipeline = Pipeline(procs)
        pipeline.keep_delivered = True
        runner = PipelineRunner(pipeline)
        await runner.start(timeout=GUARD)
        pipeline.queue_frame(TranscriptionFrame(1, "hello"))
        assert await runner.stop(timeout=GUARD) is True  # drained: the EndFrame went all the way
        assert pipeline.delivered == [StartFrame(), TranscriptionFrame(1, "hello"), EndFrame(), CancelFrame()]
        assert all(p._task is None for p in procs)

    run(scenario(), GUARD * 2)
    assert log == ["setup a", "setup b", "cleanup a", "cleanup b"]


def test_start_raises_timeout_error_when_a_setup_hangs() -> None:
    log: list[str] = []

    async def scenario() -> None:
        runner = PipelineRunner(Pipeline([Lifecycle("ok", log), Lifecycle("stuck", log, hang_setup=True)]))
        with pytest.raises(TimeoutError):
            await runner.start(timeout=0.2)
        await runner.cancel(timeout=1.0)  # releasing what was set up still works

    run(scenario(), GUARD)
    assert log == ["setup ok", "setup stuck", "cleanup ok", "cleanup stuck"]


def test_start_times_out_when_a_setup_blocks_in_its_worker_thread() -> None:
    release = threading.Event()

    class SlowLoad(FrameProcessor):
        async def setup(self, events: EventBus) -> None:
            await super().setup(events)
            await self.run_blocking(release.wait, 60)

    async def scenario() -> None:
        proc = SlowLoad()
        runner = PipelineRunner(Pipeline([proc]))
        try:
            with pytest.raises(TimeoutError):
                await runner.start(timeout=0.2)
            assert not release.is_set()
        finally:
            release.set()
            await runner.cancel(timeout=1.0)

    run(scenario(), GUARD)


def test_stop_returns_at_its_deadline_when_a_processor_never_forwards_the_end() -> None:
    log: list[str] = []

    async def scenario() -> bool:
        black_hole = Lifecycle("black-hole", log, swallow=True)
        pipeline = Pipeline([Lifecycle("a", log), black_hole])
        runner = PipelineRunner(pipeline)
        await runner.start(timeout=GUARD)
        drained = await asyncio.wait_for(runner.stop(timeout=0.3), GUARD)
        assert black_hole._task is None
        return drained

    assert run(scenario(), GUARD * 2) is False
    assert log[-2:] == ["cleanup a", "cleanup black-hole"]


def test_stop_returns_when_the_end_of_input_is_stuck_in_a_worker_thread() -> None:
    release = threading.Event()

    class StuckOnEnd(FrameProcessor):
        async def process_frame(self, frame: DataFrame) -> None:
            if isinstance(frame, EndFrame):
                await self.run_blocking(release.wait, 60)
            await self.push_frame(frame)

    async def scenario() -> bool:
        runner = PipelineRunner(Pipeline([StuckOnEnd()]))
        await runner.start(timeout=GUARD)
        try:
            return await asyncio.wait_for(runner.stop(timeout=0.3), GUARD)
        finally:
            release.set()

    assert run(scenario(), GUARD * 2) is False


def test_cancel_returns_even_when_a_cleanup_hangs() -> None:
    log: list[str] = []

    async def scenario() -> None:
        pipeline = Pipeline([Lifecycle("stuck", log, hang_cleanup=True), Lifecycle("b", log)])
        runner = PipelineRunner(pipeline)
        await runner.start(timeout=GUARD)
        await asyncio.wait_for(runner.cancel(timeout=0.2), GUARD)
        assert pipeline.ended.is_set()  # the CancelFrame went through

    run(scenario(), GUARD)
    # The hanging cleanup did not keep the next processor from being cleaned up.
    assert log[-2:] == ["cleanup stuck", "cleanup b"]


def test_wait_ended_gives_up_at_its_timeout() -> None:
    async def scenario() -> bool:
        runner = PipelineRunner(Pipeline([FrameProcessor()]))
        await runner.start(timeout=GUARD)
        try:
            return await runner.wait_ended(0.05)
        finally:
            await runner.cancel()

    assert run(scenario(), GUARD) is False


# ----------------------------------------------------------------------------- event loop checks


class BlockingModel(FrameProcessor):
    """Stands in for a model: 0.3 s of blocking work per transcription, in its worker thread or not."""

    def __init__(self, off_loop: bool) -> None:
        super().__init__("model")
        self.off_loop = off_loop

    @staticmethod
    def infer(text: str) -> str:
        time.sleep(0.3)
        return text.upper()

    async def process_frame(self, frame: DataFrame) -> None:
        if isinstance(frame, TranscriptionFrame):
            if self.off_loop:
                text = await self.run_blocking(self.infer, frame.text)
            else:
                text = self.infer(frame.text)  # the bug: inference on the event loop
            frame = TranscriptionFrame(frame.turn, text)
        await self.push_frame(frame)


def test_model_work_in_run_blocking_never_blocks_the_event_loop() -> None:
    outputs: list[object] = []

    async def scenario() -> None:
        outputs.extend(await run_frames(BlockingModel(off_loop=True), [
            TranscriptionFrame(1, "one"), TranscriptionFrame(2, "two"),
        ]))

    slow = run_with_loop_checks(scenario(), slow=0.05)
    assert outputs == [TranscriptionFrame(1, "ONE"), TranscriptionFrame(2, "TWO")]
    assert slow == []


def test_the_loop_check_catches_model_work_on_the_event_loop() -> None:
    outputs: list[object] = []

    async def scenario() -> None:
        outputs.extend(await run_frames(BlockingModel(off_loop=False), [TranscriptionFrame(1, "one")]))

    slow = run_with_loop_checks(scenario(), slow=0.05)
    assert outputs == [TranscriptionFrame(1, "ONE")]
    assert len(slow) == 1, slow
    assert slow[0].startswith("Executing") and "took" in slow[0]


def test_detect_slow_callbacks_inside_a_running_loop_restores_the_loop_settings() -> None:
    async def scenario() -> tuple[list[str], list[str]]:
        loop = asyncio.get_running_loop()
        before = (loop.get_debug(), loop.slow_callback_duration)
        with detect_slow_callbacks(0.05) as blocked:
            await asyncio.sleep(0)
            time.sleep(0.3)  # noqa: ASYNC251  (blocks the loop on purpose)
            await asyncio.sleep(0)
        with detect_slow_callbacks(0.05) as clean:
            await asyncio.get_running_loop().run_in_executor(None, time.sleep, 0.3)
        assert (loop.get_debug(), loop.slow_callback_duration) == before
        return blocked, clean

    blocked, clean = run(scenario(), GUARD)
    assert len(blocked) == 1 and "took" in blocked[0]
    assert clean == []
