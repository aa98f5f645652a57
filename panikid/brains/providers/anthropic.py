"""Anthropic's Messages API, streamed with the official SDK (``messages.stream``)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from .. import errors

Message = dict[str, str]


def _map(name: str, exc: BaseException, started: bool) -> errors.ProviderError:
    import anthropic

    known = errors.from_sdk(name, exc, started, anthropic)
    if known is not None:
        return known
    if isinstance(exc, anthropic.APIError):  # an error event inside the stream (overloaded_error, ...)
        return errors.ServerError(name, f"error in stream ({type(exc).__name__})")
    return errors.from_transport(name, exc, started)


def split_system(messages: list[Message]) -> tuple[str, list[Message]]:
    """Anthropic takes the system prompt apart from the conversation."""
    system = "\n".join(m["content"] for m in messages if m["role"] == "system")
    rest = [{"role": m["role"], "content": m["content"]} for m in messages if m["role"] != "system"]
    return system, rest


class AnthropicProvider:
    def __init__(self, name: str, model: str, api_key: str | None, base_url: str = "",
                 timeout: Any = 30.0, max_tokens: int = 256, temperature: float = 0.7) -> None:
        import anthropic

        self.name = name
        self.model = model
        self.max_tokens = max_tokens
        self.temperature = temperature
        self._missing_key = not api_key
        self.client: Any = anthropic.Anthropic(
            api_key=api_key or "missing", base_url=base_url or None, timeout=timeout, max_retries=0,
        )

    def stream(self, messages: list[Message], cancel: threading.Event) -> Iterator[str]:
        if self._missing_key:
            raise errors.AuthError(self.name, "no API key (set ANTHROPIC_API_KEY or PANIKID_CLOUD_API_KEY)")
        system, rest = split_system(messages)
        started = False
        try:
            with self.client.messages.stream(
                model=self.model, system=system, messages=rest,
                max_tokens=self.max_tokens,  # this SDK's messages.stream takes no temperature
            ) as stream:
                for piece in stream.text_stream:
                    if cancel.is_set():
                        return
                    if piece:
                        started = True
                        yield piece
                final = stream.get_final_message()
                if final.stop_reason == "refusal":
                    raise errors.Refused(self.name, "the model refused")
        except GeneratorExit:
            raise
        except Exception as exc:
            raise _map(self.name, exc, started) from None
