"""FrameProcessor: the unit of the pipeline.

A processor receives frames, may emit frames, and passes on what it does not
handle. Data frames are processed one at a time, in order, by the processor's
own task. System frames are handled the moment they are queued, synchronously,
so they overtake data frames: an ``InterruptionFrame`` drops this processor's
queued data frames, cancels the data frame being processed (in-flight
generation) and travels on downstream in the same call.

Blocking work (model inference) must not run on the event loop: use
``run_blocking``, which runs the whole call in this processor's own worker
thread (one thread per processor keeps non-thread-safe models safe).

Settings change through the pipeline too: a processor lists the keys it applies
in ``settings_keys`` and gets them, and only them, in ``apply_settings`` when an
``UpdateSettingsFrame`` passes (nothing outside a processor writes its attributes).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, TypeVar

from ..events import EventBus
from ..events.schema import Error
from .frames import (
    CancelFrame,
    DataFrame,
    EndFrame,
    ErrorFrame,
    Frame,
    InterruptionFrame,
    SystemFrame,
    UpdateSettingsFrame,
)

T = TypeVar("T")
log = logging.getLogger(__name__)


class FrameProcessor:
    settings_keys: ClassVar[frozenset[str]] = frozenset()
    """The settings (``section.key``) this processor applies from an ``UpdateSettingsFrame``."""

    def __init__(self, name: str | None = None) -> None:
        self.name = name or type(self).__name__
        self._next: FrameProcessor | None = None
        self._sink: Callable[[Frame], None] | None = None
        self._queue: asyncio.Queue[DataFrame] | None = None
        self._task: asyncio.Task[None] | None = None
        self._inflight: asyncio.Future[None] | None = None
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self.events: EventBus = EventBus()
        self.dropped_frames = 0

    # ----------------------------------------------------------- wiring
    def link(self, nxt: FrameProcessor) -> None:
        self._next = nxt

    def set_sink(self, sink: Callable[[Frame], None]) -> None:
        """Where the last processor of a pipeline delivers its frames."""
        self._sink = sink

    # ----------------------------------------------------------- lifecycle hooks
    async def setup(self, events: EventBus) -> None:
        """Load models and open resources. Called once before frames flow."""
        self.events = events

    async def cleanup(self) -> None:
        """Release resources. Called once after frames stopped flowing."""

    # ----------------------------------------------------------- subclass API
    async def process_frame(self, frame: DataFrame) -> None:
        """Handle one data frame. The default passes it on."""
        await self.push_frame(frame)

    def on_system_frame(self, frame: SystemFrame) -> None:
        """React to a system frame (synchronously, must not block)."""

    def on_interrupted(self) -> None:
        """Called after an interruption dropped queued frames and in-flight work."""

    def apply_settings(self, settings: Mapping[str, Any]) -> None:
        """Apply changed settings (synchronously): only keys of ``settings_keys``, already validated."""

    async def push_frame(self, frame: Frame) -> None:
        self.deliver(frame)

    def deliver(self, frame: Frame) -> None:
        """Hand ``frame`` to the next processor (or the sink) without awaiting."""
        if self._next is not None:
            self._next.queue_frame(frame)
        elif self._sink is not None:
            self._sink(frame)

    async def run_blocking(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` entirely in this processor's worker thread."""
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(
                max_workers=1, thread_name_prefix=f"panikid-{self.name}"
            )
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)

    def report_error(self, message: str, turn: int = 0) -> None:
        log.error("%s: %s", self.name, message)
        self.events.publish(Error(where=self.name, message=message, turn=turn))

    # ----------------------------------------------------------- queueing
    def queued(self) -> int:
        """Data frames waiting to be processed (lets a fast source avoid running ahead)."""
        return self._queue.qsize() if self._queue is not None else 0

    def queue_frame(self, frame: Frame) -> None:
        if isinstance(frame, SystemFrame):
            self._handle_system(frame)
            return
        assert isinstance(frame, DataFrame), frame
        if self._queue is None:
            self._queue = asyncio.Queue()
        self._queue.put_nowait(frame)

    def _handle_system(self, frame: SystemFrame) -> None:
        if isinstance(frame, (InterruptionFrame, CancelFrame)):
            self._drop_queued()
            if self._inflight is not None and not self._inflight.done():
                self._inflight.cancel()
        if isinstance(frame, UpdateSettingsFrame):
            self._apply(frame)
        self.on_system_frame(frame)
        if isinstance(frame, InterruptionFrame):
            self.on_interrupted()
        self.deliver(frame)

    def _apply(self, frame: UpdateSettingsFrame) -> None:
        mine = {k: v for k, v in frame.settings.items() if k in self.settings_keys}
        if not mine:
            return
        try:
            self.apply_settings(mine)
        except Exception as exc:  # a setting that cannot apply never stops the frame (or the caller)
            log.exception("%s: cannot apply %s", self.name, ", ".join(mine))
            self.report_error(f"cannot apply {', '.join(mine)}: {type(exc).__name__}: {exc}")

    def _drop_queued(self) -> None:
        """Drop queued data frames; non-interruptible ones (start, end, input) survive."""
        if self._queue is None:
            return
        kept: list[DataFrame] = []
        while True:
            try:
                frame = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                break
            if not frame.interruptible:
                kept.append(frame)
            else:
                self.dropped_frames += 1
        for frame in kept:
            self._queue.put_nowait(frame)

    # ----------------------------------------------------------- task
    def start(self) -> None:
        if self._queue is None:
            self._queue = asyncio.Queue()
        self._task = asyncio.create_task(self._run(), name=f"processor-{self.name}")

    async def stop(self) -> None:
        """Cancel the processor's task (bounded by the caller's deadline)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        if self._executor is not None:
            # Do not wait for a model call that is still running: its result is discarded.
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    async def _run(self) -> None:
        assert self._queue is not None
        me = asyncio.current_task()
        while True:
            frame = await self._queue.get()
            self._inflight = asyncio.ensure_future(self.process_frame(frame))
            try:
                await self._inflight
            except asyncio.CancelledError:
                if me is not None and me.cancelling():
                    self._inflight.cancel()
                    raise
                # Only the frame was cancelled (an interruption): carry on, but
                # never lose the end of input.
                if isinstance(frame, EndFrame):
                    self.deliver(frame)
            except Exception as exc:  # the daemon keeps running on any processor error
                log.exception("%s failed on %s", self.name, type(frame).__name__)
                turn = getattr(frame, "turn", 0)
                self.report_error(f"{type(exc).__name__}: {exc}", turn=turn)
                self.deliver(ErrorFrame(where=self.name, message=str(exc), turn=turn))
                if isinstance(frame, EndFrame):
                    self.deliver(frame)
            finally:
                self._inflight = None
