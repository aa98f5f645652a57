"""Pipeline (a flat list of processors) and the runner that drives it.

Every stop path has a deadline: ``start`` (model loading), ``stop`` (finish the
reply in progress) and ``cancel`` (drop everything) each give up after their
timeout instead of waiting forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from ..events import EventBus
from .frames import CancelFrame, EndFrame, Frame, StartFrame
from .processor import FrameProcessor

log = logging.getLogger(__name__)


class Pipeline:
    def __init__(self, processors: Sequence[FrameProcessor]) -> None:
        if not processors:
            raise ValueError("a pipeline needs at least one processor")
        self.processors = list(processors)
        for a, b in zip(self.processors, self.processors[1:], strict=False):
            a.link(b)
        self.ended = asyncio.Event()
        self.delivered: list[Frame] = []
        self.keep_delivered = False
        self.processors[-1].set_sink(self._sink)

    def _sink(self, frame: Frame) -> None:
        if self.keep_delivered:
            self.delivered.append(frame)
        if isinstance(frame, (EndFrame, CancelFrame)):
            self.ended.set()

    def queue_frame(self, frame: Frame) -> None:
        self.processors[0].queue_frame(frame)

    def __getitem__(self, i: int) -> FrameProcessor:
        return self.processors[i]


class PipelineRunner:
    def __init__(self, pipeline: Pipeline, events: EventBus | None = None) -> None:
        self.pipeline = pipeline
        self.events = events or EventBus()
        self._started = False

    async def start(self, timeout: float = 120.0) -> None:
        """Set up every processor (load models) and start the frame flow."""
        for p in self.pipeline.processors:
            # Errors reach the runner's bus even if a subclass's setup forgets super().setup().
            p.events = self.events
        async with asyncio.timeout(timeout):
            for p in self.pipeline.processors:
                await p.setup(self.events)
        for p in self.pipeline.processors:
            p.start()
        self._started = True
        self.pipeline.queue_frame(StartFrame())

    async def wait_ended(self, timeout: float | None = None) -> bool:
        """Wait until an end of input went all the way through."""
        try:
            async with asyncio.timeout(timeout):
                await self.pipeline.ended.wait()
            return True
        except TimeoutError:
            return False

    async def stop(self, timeout: float = 10.0) -> bool:
        """Graceful stop: end of input, wait (bounded) for it to drain, then cancel."""
        drained = False
        if self._started and not self.pipeline.ended.is_set():
            self.pipeline.queue_frame(EndFrame())
            drained = await self.wait_ended(timeout)
        await self.cancel(timeout=max(1.0, timeout / 4))
        return drained

    async def cancel(self, timeout: float = 2.0) -> None:
        """Hard stop: drop everything, cancel every task, release resources."""
        if self._started:
            self.pipeline.queue_frame(CancelFrame())
        tasks = [asyncio.ensure_future(p.stop()) for p in self.pipeline.processors]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=timeout)
            for t in pending:
                log.warning("processor did not stop within %.1fs", timeout)
                t.cancel()
        for p in self.pipeline.processors:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(timeout):
                    await p.cleanup()
        self._started = False
