"""Anthropic's Messages API, streamed with the official SDK (``messages.create(stream=True)``).

The raw event stream is read rather than the SDK's accumulating helper so that
a tool call's arguments reach panikid as the JSON text the model wrote: the
tool table validates them and names what was wrong, as for OpenAI.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from .. import errors
from ..router import RESPONDED
from ..tools import ToolCall, ToolCallsRequested
from .messages import split_system

Message = dict[str, str]


def _map(name: str, exc: BaseException, started: bool) -> errors.ProviderError:
    import anthropic

    known = errors.from_sdk(name, exc, started, anthropic)
    if known is not None:
        return known
    if isinstance(exc, anthropic.APIError):  # an error event inside the stream (overloaded_error, ...)
        return errors.ServerError(name, f"error in stream ({type(exc).__name__})")
    return errors.from_transport(name, exc, started)


def to_anthropic_tools(schemas: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """OpenAI-format tool schemas as Anthropic's ``tools`` (name, description, input_schema)."""
    return [{"name": s["function"]["name"], "description": s["function"]["description"],
             "input_schema": s["function"]["parameters"]} for s in schemas]


class AnthropicProvider:

    signals_response = True
    """Yields RESPONDED once the response has begun (see the router): a silent server can be told."""
    def __init__(self, name: str, model: str, api_key: str | None, base_url: str = "",
                 timeout: Any = 30.0, max_tokens: int = 256, temperature: float = 0.7) -> None:
        import anthropic

        self.name = name
        self.model = model
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.tools: list[dict[str, Any]] | None = None
        """Function-calling tools in OpenAI's format (set by the router); None = none."""
        self._missing_key = not api_key
        self.client: Any = anthropic.Anthropic(
            api_key=api_key or "missing", base_url=base_url or None, timeout=timeout, max_retries=0,
        )

    def stream(self, messages: list[Message], cancel: threading.Event) -> Iterator[str]:
        if self._missing_key:
            raise errors.AuthError(self.name, "no API key (set ANTHROPIC_API_KEY or PANIKID_CLOUD_API_KEY)")
        system, rest = split_system(messages)
        extra: dict[str, Any] = {"tools": to_anthropic_tools(self.tools)} if self.tools else {}
        if system:
            extra["system"] = system
        started = False
        calls: dict[int, ToolCall] = {}  # tool_use blocks by content index; arguments streamed as JSON text
        try:
            events = self.client.messages.create(  # this SDK's create takes no temperature
                model=self.model, messages=rest, max_tokens=self.max_tokens, stream=True, **extra,
            )
        except Exception as exc:
            raise _map(self.name, exc, started) from None
        try:
            yield RESPONDED  # the status and headers are in: the server is answering
            for event in events:
                if cancel.is_set():
                    return
                if event.type == "content_block_start" and event.content_block.type == "tool_use":
                    block = event.content_block
                    calls[event.index] = ToolCall(block.id, block.name, "")
                elif event.type == "content_block_delta":
                    delta = event.delta
                    if delta.type == "text_delta" and delta.text:
                        started = True
                        yield delta.text
                    elif delta.type == "input_json_delta" and event.index in calls:
                        c = calls[event.index]
                        calls[event.index] = ToolCall(c.id, c.name, c.arguments + delta.partial_json)
                elif event.type == "message_delta" and event.delta.stop_reason == "refusal":
                    raise errors.Refused(self.name, "the model refused")
        except GeneratorExit:
            raise
        except Exception as exc:
            raise _map(self.name, exc, started) from None
        finally:
            events.close()
        if calls:
            raise ToolCallsRequested([calls[i] for i in sorted(calls)])
