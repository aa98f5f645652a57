"""Google Gemini, streamed with the official ``google-genai`` client.

Tools are sent as function declarations with their JSON schema; the SDK's
automatic function calling is off, so a ``functionCall`` part comes back to
panikid, which runs it like an instant intent.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

from .. import errors
from ..router import RESPONDED
from ..tools import ToolCall, ToolCallsRequested
from .messages import split_system

Message = dict[str, str]

_BLOCKED = {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII"}


def _map(name: str, exc: BaseException, started: bool) -> errors.ProviderError:
    from google.genai import errors as gerrors

    if isinstance(exc, errors.ProviderError):
        return exc
    if isinstance(exc, gerrors.APIError):
        return errors.from_status(name, int(exc.code or 500), type(exc).__name__)
    return errors.from_transport(name, exc, started)


def to_contents(messages: list[Message]) -> tuple[str, list[dict[str, Any]]]:
    """Gemini's roles are ``user`` and ``model``; the system prompt is separate."""
    system, rest = split_system(messages)
    contents = [{"role": "model" if m["role"] == "assistant" else "user", "parts": [{"text": m["content"]}]}
                for m in rest]
    return system, contents


def to_gemini_tool(schemas: list[dict[str, Any]]) -> Any:
    """OpenAI-format tool schemas as one Gemini ``Tool`` of function declarations."""
    from google.genai import types

    return types.Tool(function_declarations=[
        types.FunctionDeclaration(name=s["function"]["name"], description=s["function"]["description"],
                                  parameters_json_schema=s["function"]["parameters"])
        for s in schemas
    ])


def connect_deadline_transport(connect_seconds: float) -> Any:
    """An httpx transport that gives each request at most ``connect_seconds`` to connect.

    google-genai sets one timeout per request (``HttpOptions.timeout``) for
    connecting and reading alike; a dead host would then cost the whole reply
    deadline. The transport caps only the connect part of it. The SDK runs on
    httpx2 or httpx, whichever is installed, and recognises the transport's.
    """
    try:
        import httpx2 as httpx
    except ImportError:
        import httpx  # type: ignore[no-redef]

    class _Transport(httpx.HTTPTransport):  # type: ignore[misc,name-defined]
        def handle_request(self, request: Any) -> Any:
            timeout = dict(request.extensions.get("timeout") or {})
            current = timeout.get("connect")
            timeout["connect"] = connect_seconds if current is None else min(current, connect_seconds)
            request.extensions["timeout"] = timeout
            return super().handle_request(request)

    return _Transport()


class GeminiProvider:

    signals_response = True
    """Yields RESPONDED once the response has begun (see the router): a silent server can be told."""
    def __init__(self, name: str, model: str, api_key: str | None, base_url: str = "",
                 timeout: float = 30.0, max_tokens: int = 256, temperature: float = 0.7,
                 connect_seconds: float | None = None) -> None:
        from google import genai
        from google.genai import types

        self.name = name
        self.model = model
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.tools: list[dict[str, Any]] | None = None
        """Function-calling tools in OpenAI's format (set by the router); None = none."""
        self._missing_key = not api_key
        client_args = {"transport": connect_deadline_transport(connect_seconds)} if connect_seconds else None
        opts = types.HttpOptions(base_url=base_url or None, timeout=int(timeout * 1000),
                                 retry_options=types.HttpRetryOptions(attempts=1), client_args=client_args)
        self.client: Any = genai.Client(api_key=api_key or "missing", http_options=opts)

    def stream(self, messages: list[Message], cancel: threading.Event) -> Iterator[str]:
        from google.genai import types

        if self._missing_key:
            raise errors.AuthError(self.name, "no API key (set GEMINI_API_KEY or PANIKID_CLOUD_API_KEY)")
        system, contents = to_contents(messages)
        extra: dict[str, Any] = {}
        if self.tools:
            extra["tools"] = [to_gemini_tool(self.tools)]
            extra["automatic_function_calling"] = types.AutomaticFunctionCallingConfig(disable=True)
        config = types.GenerateContentConfig(
            system_instruction=system or None, max_output_tokens=self.max_tokens, temperature=self.temperature,
            **extra,
        )
        started = responded = False
        calls: list[ToolCall] = []
        try:
            for chunk in self.client.models.generate_content_stream(
                model=self.model, contents=contents, config=config,
            ):
                if cancel.is_set():
                    return
                if not responded:  # this SDK hands over nothing before the first chunk
                    responded = True
                    yield RESPONDED
                feedback = chunk.prompt_feedback
                if feedback is not None and feedback.block_reason:
                    raise errors.Refused(self.name, f"prompt blocked ({feedback.block_reason})")
                for cand in chunk.candidates or []:
                    reason = cand.finish_reason.name if cand.finish_reason else ""
                    for part in (cand.content.parts or []) if cand.content else []:
                        if part.text:
                            started = True
                            yield part.text
                        call = part.function_call
                        if call is not None and call.name:
                            calls.append(ToolCall(call.id or f"call_{len(calls) + 1}", call.name,
                                                  json.dumps(call.args or {})))
                    if reason in _BLOCKED:
                        raise errors.Refused(self.name, f"blocked ({reason})")
        except GeneratorExit:
            raise
        except Exception as exc:
            raise _map(self.name, exc, started) from None
        if calls:
            raise ToolCallsRequested(calls)
