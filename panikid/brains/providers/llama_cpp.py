"""The local language model: llama.cpp, streamed in the caller's worker thread, one generation at a time."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

from .base import Message


class LlamaCppBackend:
    name = "local"

    def __init__(
        self,
        model_path: Path,
        context_size: int = 2048,
        threads: int = 0,
        max_tokens: int = 96,
        temperature: float = 0.2,
        repeat_penalty: float = 1.15,
    ) -> None:
        from llama_cpp import Llama

        self.max_tokens = max_tokens
        self.temperature = temperature
        self.repeat_penalty = repeat_penalty
        self.model = Llama(
            str(model_path),
            n_ctx=context_size,
            n_threads=threads or (os.cpu_count() or 1),
            verbose=False,
        )

        # One generation at a time: a router may abandon a slow call while it still runs.
        self._lock = threading.Lock()

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` with the model's own tokenizer."""
        return len(self.model.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def stream(self, messages: list[Message], cancel: threading.Event) -> Iterator[str]:
        with self._lock:
            chunks = self.model.create_chat_completion(
                messages,  # type: ignore[arg-type]
                stream=True,
                max_tokens=self.max_tokens,
                temperature=self.temperature,
                repeat_penalty=self.repeat_penalty,
            )
            try:
                for chunk in chunks:
                    if cancel.is_set():
                        return
                    piece = chunk["choices"][0]["delta"].get("content")  # type: ignore[index,union-attr]
                    if piece:
                        yield str(piece)
            finally:
                chunks.close()  # type: ignore[union-attr]
