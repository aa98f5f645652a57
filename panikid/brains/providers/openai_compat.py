"""OpenAI-compatible chat completions (OpenAI, Azure OpenAI, Ollama, vLLM, llama.cpp server)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from .. import errors
from ..router import RESPONDED
from ..tools import ToolCall, ToolCallsRequested

Message = dict[str, str]


def _map(name: str, exc: BaseException, started: bool) -> errors.ProviderError:
    import openai

    known = errors.from_sdk(name, exc, started, openai)
    if known is not None:
        return known
    if isinstance(exc, openai.ContentFilterFinishReasonError):
        return errors.Refused(name, "content filter")
    return errors.from_transport(name, exc, started)


class OpenAICompatProvider:
    """Streams ``chat.completions`` from any OpenAI-compatible server."""

    signals_response = True
    """Yields RESPONDED once the response has begun (see the router): a silent server can be told."""

    def __init__(
        self,
        name: str,
        model: str,
        api_key: str | None,
        base_url: str = "",
        timeout: Any = 30.0,
        max_tokens: int = 256,
        temperature: float = 0.7,
        azure_endpoint: str = "",
        azure_deployment: str = "",
        api_version: str = "",
    ) -> None:
        import openai

        self.name = name
        self.model = model or azure_deployment
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.tools: list[dict[str, Any]] | None = None
        """Function-calling tools sent with each request (set by the router); None = none."""
        # No key is fine for a local server (Ollama, llama.cpp); the SDK insists on one.
        key = api_key or ("unused" if (base_url or azure_endpoint) else None)
        self._missing_key = key is None
        self.client: Any
        if azure_endpoint:
            self.client = openai.AzureOpenAI(
                api_key=key, azure_endpoint=azure_endpoint, azure_deployment=azure_deployment or None,
                api_version=api_version or None, timeout=timeout, max_retries=0,
            )
        else:
            self.client = openai.OpenAI(
                api_key=key or "missing", base_url=base_url or None, timeout=timeout, max_retries=0,
            )

    def stream(self, messages: list[Message], cancel: threading.Event) -> Iterator[str]:
        if self._missing_key:
            raise errors.AuthError(self.name, "no API key (set OPENAI_API_KEY or PANIKID_CLOUD_API_KEY)")
        started = False
        extra: dict[str, Any] = {"tools": self.tools} if self.tools else {}
        calls: dict[int, dict[str, str]] = {}  # streamed tool call fragments, by index
        try:
            chunks = self.client.chat.completions.create(
                model=self.model, messages=messages, stream=True,
                max_tokens=self.max_tokens, temperature=self.temperature, **extra,
            )
        except Exception as exc:
            raise _map(self.name, exc, started) from None
        try:
            yield RESPONDED  # the status and headers are in: the server is answering
            for chunk in chunks:
                if cancel.is_set():
                    return
                if not chunk.choices:
                    continue
                choice = chunk.choices[0]
                piece = choice.delta.content if choice.delta else None
                if piece:
                    started = True
                    yield piece
                for frag in (choice.delta.tool_calls if choice.delta else None) or []:
                    _add_fragment(calls, frag)
                if choice.finish_reason == "content_filter":
                    raise errors.Refused(self.name, "content filter")
        except GeneratorExit:
            raise
        except Exception as exc:
            raise _map(self.name, exc, started) from None
        finally:
            chunks.close()
        if calls:
            raise ToolCallsRequested([ToolCall(c["id"], c["name"], c["arguments"])
                                      for _, c in sorted(calls.items())])


def _add_fragment(calls: dict[int, dict[str, str]], frag: Any) -> None:
    """Merge one streamed ``ChoiceDeltaToolCall``: id and name come once, arguments in pieces."""
    call = calls.setdefault(frag.index, {"id": "", "name": "", "arguments": ""})
    if frag.id:
        call["id"] = frag.id
    fn = frag.function
    if fn is not None:
        if fn.name:
            call["name"] += fn.name
        if fn.arguments:
            call["arguments"] += fn.arguments
