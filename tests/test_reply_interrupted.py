"""A reply cut while it is being written still gets its reply event, with what was produced."""

from __future__ import annotations

import asyncio

import pytest

from panikid.brains.processor import AssistantProcessor
from panikid.brains.providers.llama_cpp import LlamaCppBackend
from panikid.brains.router import Router
from panikid.events import EventBus
from panikid.pipeline.frames import InterruptionFrame, LLMTextFrame, TranscriptionFrame
from panikid.pipeline.runner import Pipeline, PipelineRunner


@pytest.fixture(scope="module")
def local() -> LlamaCppBackend:
    from panikid import models
    from panikid.config import ModelsConfig

    return LlamaCppBackend(models.resolve("llm", "smollm2-135m", ModelsConfig()), 1024, max_tokens=400)


async def _cut_after_first_piece(assistant: AssistantProcessor) -> tuple[list[str], EventBus]:
    bus = EventBus()
    pipeline = Pipeline([assistant])
    pipeline.keep_delivered = True
    runner = PipelineRunner(pipeline, bus)
    await runner.start()
    try:
        pipeline.queue_frame(TranscriptionFrame(8, "Tell me a very long story about a dragon and a knight."))
        async with asyncio.timeout(120):
            while not any(isinstance(f, LLMTextFrame) for f in pipeline.delivered):  # noqa: ASYNC110
                await asyncio.sleep(0.01)
            pipeline.queue_frame(InterruptionFrame(reason="wake"))  # a wake word while it writes
            while not bus.of_type("reply"):  # noqa: ASYNC110 (published by the processor's task)
                await asyncio.sleep(0.01)
    finally:
        await runner.cancel()
    return [f.text for f in pipeline.delivered if isinstance(f, LLMTextFrame)], bus


@pytest.mark.parametrize("routed", [False, True], ids=["llama", "router"])
def test_a_reply_cut_while_written_is_published_with_what_was_produced(local: LlamaCppBackend,
                                                                        routed: bool) -> None:
    backend = Router(local, None, policy="local-only") if routed else local
    produced, bus = asyncio.run(_cut_after_first_piece(AssistantProcessor(backend, "Tell long stories.")))
    (reply,) = bus.of_type("reply")
    assert reply.data["interrupted"] is True and reply.data["turn"] == 8
    assert produced and reply.data["text"] == "".join(produced).strip()  # everything that went on, no more
    assert reply.data["backend"] == "local" and reply.data["pieces"] == len(produced)
    assert reply.data["llm_ttft_ms"] > 0
