"""The small exception hierarchy every provider maps its SDK's errors to.

``reason`` is a short, stable word that goes into events (``fallback_reason``)
and logs; messages never contain API keys (SDK messages are not trusted: the
provider builds its own text from the status code and error class).
"""

from __future__ import annotations

from typing import Any


class ProviderError(Exception):
    reason = "error"

    def __init__(self, provider: str, detail: str) -> None:
        super().__init__(f"{provider}: {detail}")
        self.provider = provider
        self.detail = detail


class ProviderUnavailable(ProviderError):
    """Connection refused, DNS failure, TLS failure: nothing answered."""

    reason = "unavailable"


class ProviderTimeout(ProviderError):
    reason = "timeout"


class FirstTokenTimeout(ProviderTimeout):
    """The router's first-token deadline passed."""

    reason = "first_token_timeout"


class Unresponsive(FirstTokenTimeout):
    """The connection was accepted, but not even the start of a response (HTTP status and
    headers) came back before the first-token deadline: a hung server or proxy."""

    reason = "unresponsive"


class TotalTimeout(ProviderTimeout):
    """The router's whole-reply deadline passed."""

    reason = "total_timeout"


class RateLimited(ProviderError):
    reason = "rate_limited"


class ServerError(ProviderError):
    reason = "server_error"


class AuthError(ProviderError):
    """Missing, wrong or unauthorised API key."""

    reason = "auth"


class BadRequest(ProviderError):
    reason = "bad_request"


class Refused(ProviderError):
    """The provider declined to answer (content filter, safety block, refusal)."""

    reason = "refused"


class StreamBroken(ProviderError):
    """The connection broke in the middle of a streamed reply."""

    reason = "stream_broken"


class CircuitOpen(ProviderError):
    """Skipped: the provider failed repeatedly and is cooling down."""

    reason = "circuit_open"


def from_status(provider: str, status: int, what: str = "") -> ProviderError:
    """The error for an HTTP status code from a provider."""
    detail = f"HTTP {status}" + (f" ({what})" if what else "")
    if status == 429:
        return RateLimited(provider, detail)
    if status in (401, 403):
        return AuthError(provider, detail)
    if status in (408, 504):
        return ProviderTimeout(provider, detail)
    if status >= 500:
        return ServerError(provider, detail)
    return BadRequest(provider, detail)


def from_transport(provider: str, exc: BaseException, started: bool) -> ProviderError:
    """The error for a transport-level exception (httpx and friends), by class name only."""
    name = type(exc).__name__
    if "Timeout" in name:
        return ProviderTimeout(provider, f"timed out ({name})")
    transport = isinstance(exc, OSError) or any(
        w in name for w in ("Connect", "Network", "Protocol", "Read", "Write", "Transport", "Pool"))
    if not transport:
        return ProviderError(provider, f"unexpected {name}")
    if started:
        return StreamBroken(provider, f"connection lost mid-reply ({name})")
    return ProviderUnavailable(provider, f"cannot connect ({name})")


def from_sdk(provider: str, exc: BaseException, started: bool, sdk: Any) -> ProviderError | None:
    """The error for what the openai and anthropic SDKs raise (they share these classes' names);
    None when ``exc`` is none of them (the caller checks vendor-specific cases, then the transport)."""
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, sdk.APITimeoutError):
        return ProviderTimeout(provider, "request timed out")
    if isinstance(exc, sdk.APIConnectionError):
        if started:
            return StreamBroken(provider, "connection lost mid-reply")
        return ProviderUnavailable(provider, "cannot connect")
    if isinstance(exc, sdk.APIStatusError):
        return from_status(provider, exc.status_code, type(exc).__name__)
    return None
