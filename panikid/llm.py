"""Language model backends and the assistant processor.

A backend turns a list of chat messages into a stream of text pieces; it runs
in a worker thread and stops early when its ``cancel`` event is set. The local
backend is llama.cpp; cloud backends, routing and context strategies plug in
behind the same ``LLMBackend`` interface.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Protocol

from . import events as ev
from .frames import (
    DataFrame,
    LLMResponseEndFrame,
    LLMResponseStartFrame,
    LLMTextFrame,
    TranscriptionFrame,
)
from .processor import FrameProcessor

log = logging.getLogger(__name__)

Message = dict[str, str]


class LLMBackend(Protocol):
    name: str

    def stream(self, messages: list[Message], cancel: threading.Event) -> Iterator[str]:
        """Yield pieces of the reply (blocking; called from a worker thread)."""
        ...


class LlamaCppBackend:
    name = "local"

    def __init__(
        self,
        model_path: Path,
        context_size: int = 2048,
        threads: int = 0,
        max_tokens: int = 96,
        temperature: float = 0.2,
    ) -> None:
        from llama_cpp import Llama

        self.max_tokens = max_tokens
        self.temperature = temperature
        self.model = Llama(
            str(model_path),
            n_ctx=context_size,
            n_threads=threads or (os.cpu_count() or 1),
            verbose=False,
        )

    def stream(self, messages: list[Message], cancel: threading.Event) -> Iterator[str]:
        chunks = self.model.create_chat_completion(
            messages,  # type: ignore[arg-type]
            stream=True,
            max_tokens=self.max_tokens,
            temperature=self.temperature,
        )
        try:
            for chunk in chunks:
                if cancel.is_set():
                    return
                piece = chunk["choices"][0]["delta"].get("content")  # type: ignore[index]
                if piece:
                    yield piece
        finally:
            chunks.close()  # type: ignore[union-attr]


def system_prompt(base: str, now: dt.datetime | None = None) -> str:
    """The configured prompt plus the facts a small model cannot know (date and time)."""
    now = now or dt.datetime.now().astimezone()
    return f"{base}\nIt is now {now:%A %d %B %Y}, {now:%H:%M}."


class AssistantProcessor(FrameProcessor):
    """Answers each transcript with the LLM, streaming the reply downstream."""

    def __init__(
        self,
        backend: LLMBackend,
        prompt: str,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        super().__init__("assistant")
        self.backend = backend
        self.prompt = prompt
        self.clock = clock

    def messages_for(self, text: str) -> list[Message]:
        now = self.clock() if self.clock else None
        return [
            {"role": "system", "content": system_prompt(self.prompt, now)},
            {"role": "user", "content": text},
        ]

    async def process_frame(self, frame: DataFrame) -> None:
        if not isinstance(frame, TranscriptionFrame):
            await self.push_frame(frame)
            return
        await self.answer(frame.turn, frame.text)

    async def answer(self, turn: int, text: str) -> str:
        started = time.perf_counter()
        ttft_ms: float | None = None
        parts: list[str] = []
        await self.push_frame(LLMResponseStartFrame(turn))
        async for piece in self._stream(self.messages_for(text)):
            if ttft_ms is None:
                ttft_ms = (time.perf_counter() - started) * 1000
            parts.append(piece)
            await self.push_frame(LLMTextFrame(turn, piece))
        reply = "".join(parts).strip()
        total_ms = (time.perf_counter() - started) * 1000
        self.events.publish(
            ev.REPLY, turn=turn, text=reply, backend=self.backend.name,
            llm_ttft_ms=round(ttft_ms, 1) if ttft_ms is not None else None,
            llm_ms=round(total_ms, 1), pieces=len(parts),
        )
        await self.push_frame(LLMResponseEndFrame(turn, reply))
        return reply

    async def _stream(self, messages: list[Message]) -> AsyncIterator[str]:
        """Run the backend in the worker thread, hand pieces to the loop as they come."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, object]] = asyncio.Queue()
        cancel = threading.Event()

        def work() -> None:
            try:
                for piece in self.backend.stream(messages, cancel):
                    loop.call_soon_threadsafe(queue.put_nowait, ("piece", piece))
                    if cancel.is_set():
                        break
            except BaseException as exc:  # handed to the loop, raised there
                loop.call_soon_threadsafe(queue.put_nowait, ("error", exc))
            else:
                loop.call_soon_threadsafe(queue.put_nowait, ("end", None))

        job = asyncio.ensure_future(self.run_blocking(work))
        try:
            while True:
                kind, value = await queue.get()
                if kind == "piece":
                    yield str(value)
                elif kind == "error":
                    assert isinstance(value, BaseException)
                    raise value
                else:
                    break
            await job
        finally:
            cancel.set()  # an interruption stops generation in the worker too

