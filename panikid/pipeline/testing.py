"""Push frames through processors and see what comes out, and check the event loop never blocks.

Shipped inside the package so that any bug report can become a frame-sequence
test::

    await run_frames(SentenceAggregator(), [LLMTextFrame(1, "Hi. "), LLMResponseEndFrame(1)],
                     expect=["TTSSpeakFrame", "LLMResponseEndFrame"])

``run_frames`` returns the frames that came out; with ``expect`` it also
checks their types, and raises with both lists printed when they differ.
``Recorder`` is the processor to put anywhere in a pipeline to see what
passed there (system frames too), and to wait for a frame of some type.

``detect_slow_callbacks`` / ``run_with_loop_checks`` run code under asyncio's
debug mode and collect asyncio's "Executing ... took N seconds" warnings: any
callback that held the event loop longer than ``slow`` seconds (model
inference on the loop instead of in a worker thread) shows up there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine, Iterator, Sequence
from typing import Any, TypeVar

from ..events import EventBus
from .frames import DataFrame, EndFrame, Frame, StartFrame, SystemFrame
from .processor import FrameProcessor
from .runner import Pipeline, PipelineRunner

T = TypeVar("T")
F = TypeVar("F", bound=Frame)


async def run_frames(
    processors: FrameProcessor | Sequence[FrameProcessor],
    frames: Sequence[Frame],
    events: EventBus | None = None,
    timeout: float = 60.0,  # noqa: ASYNC109  (its own deadline, so a test never hangs)
    *,
    expect: Sequence[str] | None = None,
) -> list[Frame]:
    """Queue ``frames`` (then an end of input), return every frame that came out.

    Start and end frames are not included in the result, nor anything the
    final shutdown emits (its ``CancelFrame``). ``expect``: the type names the
    output must have, in order; an ``AssertionError`` shows both lists if not.
    """
    procs = [processors] if isinstance(processors, FrameProcessor) else list(processors)
    pipeline = Pipeline(procs)
    pipeline.keep_delivered = True
    runner = PipelineRunner(pipeline, events or EventBus())
    await runner.start()
    try:
        for frame in frames:
            pipeline.queue_frame(frame)
            await asyncio.sleep(0)
        pipeline.queue_frame(EndFrame())
        if not await runner.wait_ended(timeout):
            raise TimeoutError(f"end of input did not come through within {timeout}s")
    finally:
        # What the shutdown itself sends through (a CancelFrame) is not output.
        pipeline.keep_delivered = False
        await runner.cancel()
    out = [f for f in pipeline.delivered if not isinstance(f, (StartFrame, EndFrame))]
    if expect is not None:
        assert_types(out, expect)
    return out


def types(frames: Sequence[Frame]) -> list[str]:
    return [type(f).__name__ for f in frames]


def assert_types(frames: Sequence[Frame], expected: Sequence[str]) -> None:
    """Raise an ``AssertionError`` showing both lists unless ``frames`` have these type names, in order."""
    got = types(frames)
    if got != list(expected):
        raise AssertionError(f"frames out differ from those expected\n  expected: {list(expected)}\n"
                             f"  got:      {got}")


class Recorder(FrameProcessor):
    """Passes every frame on and keeps each one it saw, data and system frames, in order.

    Put it anywhere in a pipeline: ``frames`` is what passed there, ``of_type``
    the frames of one class, and ``await wait_for(InputAudioFrame)`` the first
    such frame, once it came (an ``AssertionError`` naming what did come if it
    does not within ``timeout``).
    """

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name)
        self.frames: list[Frame] = []
        self._arrived: asyncio.Event | None = None

    def _keep(self, frame: Frame) -> None:
        self.frames.append(frame)
        if self._arrived is not None:
            self._arrived.set()

    async def process_frame(self, frame: DataFrame) -> None:
        self._keep(frame)
        await super().process_frame(frame)

    def on_system_frame(self, frame: SystemFrame) -> None:
        self._keep(frame)

    def of_type(self, frame_type: type[F]) -> list[F]:
        return [f for f in self.frames if isinstance(f, frame_type)]

    def types(self) -> list[str]:
        return types(self.frames)

    async def wait_for(self, frame_type: type[F], timeout: float = 10.0) -> F:  # noqa: ASYNC109
        self._arrived = self._arrived or asyncio.Event()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not (found := self.of_type(frame_type)):
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), deadline - loop.time())
            except TimeoutError:
                raise AssertionError(f"no {frame_type.__name__} reached {self.name} within {timeout}s; "
                                     f"it saw: {self.types()}") from None
        return found[0]


def run(coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
    """Run ``coro`` in a fresh event loop, giving up after ``timeout`` seconds (tests never hang)."""

    async def bounded() -> T:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


class _SlowCallbackHandler(logging.Handler):
    def __init__(self, found: list[str]) -> None:
        super().__init__(logging.WARNING)
        self.found = found

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("Executing "):
            self.found.append(message)


@contextlib.contextmanager
def detect_slow_callbacks(slow: float = 0.05) -> Iterator[list[str]]:
    """Inside a running loop: collect every callback that held the loop for ``slow`` seconds or more.

    Yields a list that fills with asyncio's "Executing <handle> took N seconds"
    messages while the block runs. Debug mode and the threshold are restored
    on exit::

        with detect_slow_callbacks(0.05) as slow_callbacks:
            await run_frames(stt, frames)
        assert slow_callbacks == []
    """
    loop = asyncio.get_running_loop()
    found: list[str] = []
    handler = _SlowCallbackHandler(found)
    logger = logging.getLogger("asyncio")
    old_debug, old_slow, old_level = loop.get_debug(), loop.slow_callback_duration, logger.level
    loop.set_debug(True)
    loop.slow_callback_duration = slow
    if logger.getEffectiveLevel() > logging.WARNING:
        logger.setLevel(logging.WARNING)
    logger.addHandler(handler)
    try:
        yield found
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
        loop.slow_callback_duration = old_slow
        loop.set_debug(old_debug)


def run_with_loop_checks(
    coro: Coroutine[Any, Any, Any], slow: float = 0.05, timeout: float = 120.0
) -> list[str]:
    """Run ``coro`` in a fresh debug-mode loop; return the callbacks that blocked it for ``slow`` s or more.

    An empty list means nothing held the event loop that long. The coroutine's
    own exceptions propagate.
    """

    async def checked() -> list[str]:
        with detect_slow_callbacks(slow) as found:
            await asyncio.wait_for(coro, timeout)
        return found

    return asyncio.run(checked(), debug=True)
