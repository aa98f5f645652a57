"""What every language model provider is: a name, and a blocking stream of text pieces for chat messages.

The local llama.cpp model and every cloud vendor implement it; the router is one too.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Protocol

Message = dict[str, str]
"""A chat message: {"role": "system" | "user" | "assistant", "content": text}."""


class Provider(Protocol):
    name: str

    def stream(self, messages: list[Message], cancel: threading.Event) -> Iterator[str]:
        """Yield pieces of the reply (blocking; called from a worker thread); stop soon after ``cancel`` is set."""
        ...
