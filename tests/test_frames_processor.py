"""Frames and FrameProcessor: order, pass-through, system frames overtaking, interruption, errors, threads."""

from __future__ import annotations

import asyncio
import dataclasses
import threading

import pytest

from panikid import events as ev
from panikid.events import EventBus
from panikid.pipeline.frames import (
    DataFrame,
    EndFrame,
    ErrorFrame,
    Frame,
    InputAudioFrame,
    InterruptionFrame,
    LLMTextFrame,
    MuteFrame,
    StartFrame,
    SystemFrame,
    TranscriptionFrame,
)
from panikid.pipeline.processor import FrameProcessor
from panikid.pipeline.runner import Pipeline, PipelineRunner
from panikid.pipeline.testing import Recorder, run, run_frames, types

WAIT = 10.0  # generous deadline for a condition that should hold almost at once


# ----------------------------------------------------------------------------- helpers


class Gate(FrameProcessor):
    """Holds every TranscriptionFrame whose text is "block" until cancelled; the rest flows.

    ``entered`` is set when a blocking frame is in flight; ``cancelled`` lists the
    texts whose processing was cancelled.
    """

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name)
        self.entered = asyncio.Event()
        self.cancelled: list[str] = []
        self.processed: list[Frame] = []

    async def process_frame(self, frame: DataFrame) -> None:
        if isinstance(frame, TranscriptionFrame) and frame.text == "block":
            self.entered.set()
            try:
                await asyncio.Event().wait()  # a long generation
            except asyncio.CancelledError:
                self.cancelled.append(frame.text)
                raise
        self.processed.append(frame)
        await self.push_frame(frame)


async def started(processors: list[FrameProcessor], events: EventBus | None = None) -> tuple[
    Pipeline, PipelineRunner
]:
    pipeline = Pipeline(processors)
    pipeline.keep_delivered = True
    runner = PipelineRunner(pipeline, events or EventBus())
    await runner.start(timeout=WAIT)
    return pipeline, runner


def without_control(frames: list[Frame]) -> list[Frame]:
    return [f for f in frames if not isinstance(f, (StartFrame, EndFrame))]


# ----------------------------------------------------------------------------- frames


def test_frames_are_frozen_and_classified() -> None:
    frame = TranscriptionFrame(1, "hello")
    with pytest.raises(dataclasses.FrozenInstanceError):
        frame.text = "changed"  # type: ignore[misc]
    assert isinstance(InterruptionFrame(), SystemFrame)
    assert isinstance(MuteFrame(), SystemFrame)
    assert isinstance(EndFrame(), DataFrame) and not EndFrame.interruptible
    assert isinstance(StartFrame(), DataFrame) and not StartFrame.interruptible
    assert not InputAudioFrame(b"", 0.0).interruptible
    assert TranscriptionFrame.interruptible and LLMTextFrame.interruptible


def test_input_audio_duration_counts_16_bit_samples() -> None:
    assert InputAudioFrame(b"\x00\x00" * 480, t=0.0).duration == pytest.approx(0.03)
    assert InputAudioFrame(b"\x00\x00" * 800, t=0.0, sample_rate=8000).duration == pytest.approx(0.1)


# ----------------------------------------------------------------------------- order, pass-through


class Shout(FrameProcessor):
    """Consumes transcriptions (emits them upper-cased as reply text); passes on the rest."""

    async def process_frame(self, frame: DataFrame) -> None:
        if isinstance(frame, TranscriptionFrame):
            await asyncio.sleep(0)  # give other tasks a chance to reorder things, if they could
            await self.push_frame(LLMTextFrame(frame.turn, frame.text.upper()))
        else:
            await super().process_frame(frame)


def test_data_frames_come_out_in_order_through_several_processors() -> None:
    frames = [TranscriptionFrame(i, f"t{i}") if i % 3 else LLMTextFrame(i, f"l{i}") for i in range(100)]
    out = run(run_frames([Recorder(), Shout(), Recorder()], frames))
    expected = [LLMTextFrame(i, f"T{i}") if i % 3 else LLMTextFrame(i, f"l{i}") for i in range(100)]
    assert out == expected


def test_unhandled_frames_are_passed_on_unchanged() -> None:
    audio = InputAudioFrame(b"\x01\x00" * 160, t=0.5)
    error = ErrorFrame(where="x", message="m")
    out = run(run_frames(Shout(), [audio, TranscriptionFrame(2, "hi"), error]))
    assert out == [audio, LLMTextFrame(2, "HI"), error]
    # The base class passes everything on.
    assert run(run_frames(FrameProcessor(), [audio, error])) == [audio, error]


def test_run_frames_returns_only_what_came_out_before_the_end() -> None:
    out = run(run_frames(FrameProcessor(), [TranscriptionFrame(1, "a")]))
    assert types(out) == ["TranscriptionFrame"]  # no StartFrame, EndFrame or shutdown CancelFrame


def test_run_frames_with_expect_checks_the_types_and_prints_both_lists() -> None:
    frames = [TranscriptionFrame(1, "a"), MuteFrame()]
    out = run(run_frames(FrameProcessor(), frames, expect=["MuteFrame", "TranscriptionFrame"]))
    assert out == [MuteFrame(), TranscriptionFrame(1, "a")]  # the system frame overtook the data frame
    with pytest.raises(AssertionError) as failed:
        run(run_frames(Shout(), [TranscriptionFrame(1, "a")], expect=["TranscriptionFrame"]))
    assert "expected: ['TranscriptionFrame']" in str(failed.value)
    assert "got:      ['LLMTextFrame']" in str(failed.value)


def test_recorder_keeps_data_and_system_frames_in_order_and_waits_for_one() -> None:
    async def scenario() -> Recorder:
        recorder = Recorder("probe")
        pipeline, runner = await started([recorder, FrameProcessor("after")])
        try:
            pipeline.queue_frame(TranscriptionFrame(1, "a"))
            assert await recorder.wait_for(TranscriptionFrame) == TranscriptionFrame(1, "a")
            pipeline.queue_frame(MuteFrame(True))
            assert await recorder.wait_for(MuteFrame) == MuteFrame(True)
            with pytest.raises(AssertionError, match=r"no LLMTextFrame reached probe within 0.1s; it saw: "
                                                     r"\['StartFrame', 'TranscriptionFrame', 'MuteFrame'\]"):
                await recorder.wait_for(LLMTextFrame, timeout=0.1)
            pipeline.queue_frame(EndFrame())
            assert await runner.wait_ended(WAIT)
            # What it saw was passed on (the system frame may overtake the data frame on the way).
            assert sorted(types(without_control(pipeline.delivered))) == ["MuteFrame", "TranscriptionFrame"]
        finally:
            await runner.cancel()
        return recorder

    recorder = run(scenario())
    assert recorder.of_type(TranscriptionFrame) == [TranscriptionFrame(1, "a")]
    assert recorder.types()[-2:] == ["EndFrame", "CancelFrame"]  # the shutdown's system frame too


# ----------------------------------------------------------------------------- system frames


def test_system_frame_overtakes_queued_data_frames() -> None:
    async def scenario() -> None:
        gate, after = Gate(), Recorder("after")
        pipeline, runner = await started([gate, after])
        try:
            pipeline.queue_frame(TranscriptionFrame(1, "block"))
            await asyncio.wait_for(gate.entered.wait(), WAIT)
            for i in range(3):
                pipeline.queue_frame(TranscriptionFrame(1, f"queued {i}"))
            pipeline.queue_frame(MuteFrame(True))
            # Handled at once: it went through both processors to the sink while the data waits.
            assert without_control(pipeline.delivered) == [MuteFrame(True)]
            assert MuteFrame(True) in after.frames
            assert gate.processed == [StartFrame()]
        finally:
            await runner.cancel()

    run(scenario())


def test_interruption_drops_queued_interruptible_frames_and_keeps_the_others() -> None:
    async def scenario() -> None:
        gate = Gate()
        pipeline, runner = await started([FrameProcessor("front"), gate])
        try:
            pipeline.queue_frame(TranscriptionFrame(1, "block"))
            await asyncio.wait_for(gate.entered.wait(), WAIT)
            audio = InputAudioFrame(b"\x00\x00" * 160, t=1.0)
            queued: list[Frame] = [
                TranscriptionFrame(1, "dropped 1"),
                StartFrame(),
                audio,
                LLMTextFrame(1, "dropped 2"),
                EndFrame(),
            ]
            for frame in queued:
                pipeline.queue_frame(frame)
            # Let the front processor pass them on: they now wait in the gate's queue.
            for _ in range(20):
                await asyncio.sleep(0)
            assert gate._queue is not None and gate._queue.qsize() == len(queued)

            pipeline.queue_frame(InterruptionFrame())
            assert await runner.wait_ended(WAIT), "the kept EndFrame did not come through"
            assert gate.cancelled == ["block"]
            assert gate.dropped_frames == 2
            assert pipeline.delivered == [StartFrame(), InterruptionFrame(), StartFrame(), audio, EndFrame()]
        finally:
            await runner.cancel()

    run(scenario())


def test_interruption_cancels_in_flight_work_and_the_next_frame_is_processed() -> None:
    async def scenario() -> None:
        gate = Gate()
        pipeline, runner = await started([gate, Recorder()])
        try:
            pipeline.queue_frame(TranscriptionFrame(1, "block"))
            await asyncio.wait_for(gate.entered.wait(), WAIT)
            pipeline.queue_frame(InterruptionFrame("user spoke"))
            pipeline.queue_frame(TranscriptionFrame(2, "after"))
            pipeline.queue_frame(EndFrame())
            assert await runner.wait_ended(WAIT)
            assert gate.cancelled == ["block"]
            assert without_control(pipeline.delivered) == [
                InterruptionFrame("user spoke"),
                TranscriptionFrame(2, "after"),
            ]
        finally:
            await runner.cancel()

    run(scenario())


def test_interruption_cancels_a_wait_on_a_worker_thread() -> None:
    release = threading.Event()

    class Blocking(FrameProcessor):
        def __init__(self) -> None:
            super().__init__()
            self.entered = asyncio.Event()

        async def process_frame(self, frame: DataFrame) -> None:
            if isinstance(frame, TranscriptionFrame):
                self.entered.set()
                await self.run_blocking(release.wait, 60)
            await self.push_frame(frame)

    async def scenario() -> None:
        proc = Blocking()
        pipeline, runner = await started([proc])
        try:
            pipeline.queue_frame(TranscriptionFrame(1, "long"))
            await asyncio.wait_for(proc.entered.wait(), WAIT)
            pipeline.queue_frame(InterruptionFrame())
            pipeline.queue_frame(LLMTextFrame(1, "next"))
            pipeline.queue_frame(EndFrame())
            # The loop did not wait for the thread: the end came through while it still blocks.
            assert await runner.wait_ended(WAIT)
            assert not release.is_set()
            assert without_control(pipeline.delivered) == [InterruptionFrame(), LLMTextFrame(1, "next")]
        finally:
            release.set()
            await runner.cancel()

    run(scenario())


def test_end_frame_in_flight_survives_an_interruption() -> None:
    class SlowEnd(FrameProcessor):
        """Finishing the reply in progress on end of input takes a long time."""

        def __init__(self) -> None:
            super().__init__()
            self.entered = asyncio.Event()

        async def process_frame(self, frame: DataFrame) -> None:
            if isinstance(frame, EndFrame):
                self.entered.set()
                await asyncio.Event().wait()
            await self.push_frame(frame)

    async def scenario() -> None:
        proc = SlowEnd()
        pipeline, runner = await started([proc])
        try:
            pipeline.queue_frame(EndFrame())
            await asyncio.wait_for(proc.entered.wait(), WAIT)
            assert not pipeline.ended.is_set()
            pipeline.queue_frame(InterruptionFrame())
            assert await runner.wait_ended(WAIT)
            assert pipeline.delivered[-1] == EndFrame()
        finally:
            await runner.cancel()

    run(scenario())


def test_on_interrupted_and_on_system_frame_hooks_are_called() -> None:
    calls: list[str] = []

    class Hooks(FrameProcessor):
        def on_system_frame(self, frame: SystemFrame) -> None:
            calls.append(type(frame).__name__)

        def on_interrupted(self) -> None:
            calls.append("on_interrupted")

    run(run_frames(Hooks(), [MuteFrame(), InterruptionFrame()]))
    # (the runner's shutdown sends a CancelFrame last)
    assert calls == ["MuteFrame", "InterruptionFrame", "on_interrupted", "CancelFrame"]


# ----------------------------------------------------------------------------- errors


class Fails(FrameProcessor):
    """Raises on transcriptions saying "boom" and, when asked, on the end of input."""

    def __init__(self, fail_on_end: bool = False) -> None:
        super().__init__("fails")
        self.fail_on_end = fail_on_end

    async def process_frame(self, frame: DataFrame) -> None:
        if isinstance(frame, TranscriptionFrame) and frame.text == "boom":
            raise RuntimeError("model exploded")
        if isinstance(frame, EndFrame) and self.fail_on_end:
            raise ValueError("cleanup of the reply failed")
        await self.push_frame(frame)


def test_exception_publishes_an_error_event_and_the_pipeline_keeps_running() -> None:
    bus = EventBus()
    out = run(run_frames([Fails(), Recorder()], [
        TranscriptionFrame(7, "boom"),
        TranscriptionFrame(8, "still here"),
    ], events=bus))
    errors = bus.of_type(ev.ERROR)
    assert len(errors) == 1
    assert errors[0].data["where"] == "fails"
    assert "model exploded" in errors[0].data["message"]
    assert errors[0].data["turn"] == 7
    assert len(out) == 2
    assert isinstance(out[0], ErrorFrame) and out[0].where == "fails" and out[0].turn == 7
    assert "model exploded" in out[0].message
    assert out[1] == TranscriptionFrame(8, "still here")


def test_error_events_reach_the_runner_bus_even_if_setup_is_overridden_without_super() -> None:
    class NoSuperSetup(Fails):
        async def setup(self, events: EventBus) -> None:  # forgets super().setup(events)
            pass

    bus = EventBus()
    run(run_frames(NoSuperSetup(), [TranscriptionFrame(1, "boom")], events=bus))
    assert [e.data["where"] for e in bus.of_type(ev.ERROR)] == ["fails"]


def test_an_end_frame_whose_processing_raised_is_not_lost() -> None:
    async def scenario() -> None:
        bus = EventBus()
        pipeline, runner = await started([Fails(fail_on_end=True), Recorder()], bus)
        try:
            pipeline.queue_frame(TranscriptionFrame(1, "hello"))
            pipeline.queue_frame(EndFrame())
            assert await runner.wait_ended(WAIT), "EndFrame lost after an exception"
            assert types(without_control(pipeline.delivered)) == ["TranscriptionFrame", "ErrorFrame"]
            assert pipeline.delivered[-1] == EndFrame()
            assert "cleanup of the reply failed" in bus.of_type(ev.ERROR)[0].data["message"]
        finally:
            await runner.cancel()

    run(scenario())


# ----------------------------------------------------------------------------- worker threads


class ThreadProbe(FrameProcessor):
    """Records which thread ran each blocking call."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.threads: list[threading.Thread] = []

    async def process_frame(self, frame: DataFrame) -> None:
        if isinstance(frame, TranscriptionFrame):
            self.threads.append(await self.run_blocking(threading.current_thread))
        await self.push_frame(frame)


def test_run_blocking_runs_in_one_worker_thread_per_processor() -> None:
    a, b = ThreadProbe("stt"), ThreadProbe("tts")
    loop_thread: list[threading.Thread] = []

    async def scenario() -> list[Frame]:
        loop_thread.append(threading.current_thread())
        return await run_frames([a, b], [TranscriptionFrame(1, "x"), TranscriptionFrame(2, "y")])

    out = run(scenario())
    assert len(out) == 2
    assert len(a.threads) == 2 and len(b.threads) == 2
    assert a.threads[0] is a.threads[1], "one processor must always use the same thread"
    assert b.threads[0] is b.threads[1]
    assert a.threads[0] is not b.threads[0], "each processor has its own thread"
    names = {a.threads[0].name, b.threads[0].name}
    assert loop_thread[0].name not in names
    assert a.threads[0].name.startswith("panikid-stt") and b.threads[0].name.startswith("panikid-tts")


def test_run_blocking_returns_the_value_and_raises_the_exception_of_the_call() -> None:
    async def scenario() -> None:
        proc = FrameProcessor("worker")
        assert await proc.run_blocking(sum, [1, 2, 3]) == 6
        with pytest.raises(ZeroDivisionError):
            await proc.run_blocking(lambda: 1 / 0)
        await proc.stop()

    run(scenario())
