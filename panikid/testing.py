"""Push frames through processors and see what comes out.

Shipped inside the package so that any bug report can become a frame-sequence
test::

    out = await run_frames(SentenceAggregator(), [LLMTextFrame(1, "Hi. "), ...])
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from .events import EventBus
from .frames import EndFrame, Frame, StartFrame
from .pipeline import Pipeline, PipelineRunner
from .processor import FrameProcessor


async def run_frames(
    processors: FrameProcessor | Sequence[FrameProcessor],
    frames: Sequence[Frame],
    events: EventBus | None = None,
    timeout: float = 60.0,
) -> list[Frame]:
    """Queue ``frames`` (then an end of input), return every frame that came out.

    Start and end frames are not included in the result.
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
        await runner.cancel()
    return [f for f in pipeline.delivered if not isinstance(f, (StartFrame, EndFrame))]


def types(frames: Sequence[Frame]) -> list[str]:
    return [type(f).__name__ for f in frames]
