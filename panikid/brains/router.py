"""Pick the brain that answers a turn: local first, cloud first, or only one of them.

Each attempt runs the provider in its own worker thread and hands its pieces
over a queue. The router waits on that queue with deadlines:

* first token: a provider that has not produced its first piece in time is
  cancelled (its cancel event is set) and the next provider is tried. The last
  provider in the order gets the whole-turn deadline instead, since nothing
  would be gained by giving up on it early.
* total: no reply takes longer than ``total_seconds``.

A cloud provider yields an empty piece as soon as its response has begun (the
HTTP status and headers came back). One that reaches the first-token deadline
without even that has accepted the connection and then gone silent: a hung
server or proxy. That is ``unresponsive``, and it counts as
``failure_threshold`` failures at once: the next turns skip it for the
cool-down instead of each paying the whole deadline again.

Circuit breakers: a provider's breaker is asked right before that provider is
called, so only a call that really goes out can be the one probe of a
half-open breaker, and every call ends in a verdict (success, failure, or
released when it was cancelled or its stream was closed early).

Mid-stream failures: the router holds a provider's text back until its first
sentence is complete. A provider that fails before that (a server killed
mid-stream, say) is replaced by the next one and the user hears nothing of it.
Once text has been released it is spoken, so a later failure ends the reply
with what was said and the failure is reported (``outcome.error``), never
retried with a different voice halfway through.

Tools: with ``tools=True`` the cloud provider (only it: the small local model
cannot call functions) is offered the instant intents as function-calling
tools. A reply that ends in tool calls is a success: the calls are kept in
``outcome.tool_calls`` for the caller to carry out, and text held back before
them is dropped. A tool call must arrive within the first-token deadline, as
no text piece precedes it.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from ..text.sentences import completes_a_sentence
from . import errors, streaming
from .breaker import CircuitBreaker
from .providers.base import Message, Provider
from .tools import ToolCall, ToolCallsRequested, schemas

log = logging.getLogger(__name__)

POLICIES = ("local-first", "cloud-first", "local-only", "cloud-only")
_POLL = 0.05


RESPONDED = ""
"""What a provider yields when its response has begun and before its first text."""


@dataclass
class Outcome:
    """What happened in one routed turn (read it after the stream ended)."""

    backend: str = ""
    fallback_reason: str | None = None
    error: errors.ProviderError | None = None
    attempts: list[tuple[str, str]] = field(default_factory=list)
    tool_calls: list[ToolCall] = field(default_factory=list)
    """Function calls the answering brain asked for instead of (or after) text."""


class AllProvidersFailed(errors.ProviderError):
    reason = "all_failed"


def order_for(policy: str, local: str | None, cloud: str | None) -> list[str]:
    """Provider names in the order a policy tries them (missing ones left out)."""
    if policy not in POLICIES:
        raise ValueError(f"router.policy: got {policy!r}, allowed: {', '.join(POLICIES)}")
    first, second = (local, cloud) if policy in ("local-first", "local-only") else (cloud, local)
    names = [first] if policy.endswith("-only") else [first, second]
    return [n for n in names if n]


class Router:
    """An ``LLMBackend`` that routes each call over providers; ``last`` holds the outcome."""

    name = "router"

    def __init__(
        self,
        local: Provider | None,
        cloud: Provider | None,
        policy: str = "local-first",
        first_token_seconds: float = 4.0,
        total_seconds: float = 30.0,
        failure_threshold: int = 3,
        cooldown_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        tools: bool = False,
    ) -> None:
        self.providers: dict[str, Provider] = {}
        self.local_name = local.name if local else None
        self.cloud_name = cloud.name if cloud else None
        for p in (local, cloud):
            if p is not None:
                self.providers[p.name] = p
        order_for(policy, self.local_name, self.cloud_name)  # validates the policy
        self.policy = policy
        self.first_token_seconds = first_token_seconds
        self.total_seconds = total_seconds
        self.clock = clock
        if tools and cloud is not None and hasattr(cloud, "tools"):
            cloud.tools = schemas()
        self.breakers = {n: CircuitBreaker(failure_threshold, cooldown_seconds) for n in self.providers}
        self.last = Outcome()

    def order(self, policy: str | None = None) -> list[str]:
        return order_for(policy or self.policy, self.local_name, self.cloud_name)

    def stream(self, messages: list[Message], cancel: threading.Event,
               policy: str | None = None) -> Iterator[str]:
        outcome = self.last = Outcome()
        names = self.order(policy)
        if not names:
            outcome.error = AllProvidersFailed("router", f"no provider for policy {policy or self.policy}")
            return
        deadline = self.clock() + self.total_seconds
        # Everything is cooling down: the last one is tried anyway (as its breaker's probe).
        forced = names[-1] if not any(self.breakers[n].available(self.clock()) for n in names) else None
        tried = [n for n in names if n == forced or self.breakers[n].available(self.clock())]
        for name in names:
            if cancel.is_set():
                return
            breaker = self.breakers[name]
            if not breaker.allow(self.clock(), force=name == forced):
                outcome.attempts.append((name, errors.CircuitOpen.reason))
                continue
            last_one = name == tried[-1]
            committed = False
            verdict = ""
            try:
                for piece in self._attempt(name, messages, cancel, deadline, last_one):
                    if not committed:
                        committed = True
                        outcome.backend = name  # the reply is this brain's from its first sentence
                    yield piece
                verdict = "released" if cancel.is_set() and not committed else "success"
            except ToolCallsRequested as calls:
                verdict = "success"
                outcome.backend = name
                outcome.tool_calls = calls.calls
                break
            except errors.ProviderError as exc:
                verdict = "failure"
                count = breaker.failure_threshold if isinstance(exc, errors.Unresponsive) else 1
                breaker.record_failure(self.clock(), count)
                log.warning("%s failed (%s): %s", name, exc.reason, exc.detail)
                outcome.attempts.append((name, exc.reason))
                if committed:
                    outcome.error = exc
                    break
                continue
            finally:
                if verdict == "success":
                    breaker.record_success(self.clock())
                elif verdict != "failure" and committed:  # the consumer closed the stream mid-reply
                    breaker.record_success(self.clock())
                elif verdict != "failure":  # cancelled before a sentence: no verdict
                    breaker.release(self.clock())
            if verdict == "released":
                return
            outcome.backend = name
            break
        else:
            outcome.error = AllProvidersFailed(
                "router", "; ".join(f"{n}: {r}" for n, r in outcome.attempts) or "no provider answered")
        failed = [f"{n}: {r}" for n, r in outcome.attempts if n != outcome.backend]
        if outcome.backend and failed:
            outcome.fallback_reason = "; ".join(failed)

    def _attempt(self, name: str, messages: list[Message], outer: threading.Event,
                 deadline: float, last_one: bool) -> Iterator[str]:
        """Stream one provider with deadlines; hold text back until a sentence is complete."""
        provider = self.providers[name]
        pieces: queue.Queue[streaming.Item] = queue.Queue()
        cancel = threading.Event()
        threading.Thread(target=streaming.pump, args=(lambda: provider.stream(messages, cancel), cancel, pieces.put),
                         name=f"panikid-llm-{name}", daemon=True).start()
        started = self.clock()
        first_by = deadline if last_one else min(deadline, self.clock() + self.first_token_seconds)
        held: list[str] = []
        committed = False
        got_first = False
        # Only a provider that says when its response begins can be told to be silent.
        responded = not getattr(provider, "signals_response", False)
        try:
            while True:
                limit = deadline if got_first else first_by
                kind, value = self._next(pieces, outer, limit)
                if kind == "cancelled":
                    return
                if kind == "timeout":
                    waited = (deadline if last_one else first_by) - started
                    if got_first:
                        raise errors.TotalTimeout(name, f"no complete reply within {self.total_seconds:g} s")
                    if not responded:
                        raise errors.Unresponsive(
                            name, f"accepted the connection but sent nothing back within {waited:.1f} s")
                    raise errors.FirstTokenTimeout(name, f"no first token within {waited:.1f} s")
                if kind == streaming.ERROR:
                    if isinstance(value, errors.ProviderError | ToolCallsRequested):
                        raise value
                    raise errors.from_transport(name, value, got_first)  # type: ignore[arg-type]
                if kind == streaming.END:
                    break
                text = str(value)
                if text == RESPONDED:
                    responded = True
                    continue
                got_first = True
                if committed:
                    yield text
                    continue
                held.append(text)
                if completes_a_sentence("".join(held)):
                    committed = True
                    yield "".join(held)
                    held.clear()
            if held:
                yield "".join(held)
        finally:
            cancel.set()

    def _next(self, pieces: queue.Queue[tuple[str, object]], outer: threading.Event,
              limit: float) -> tuple[str, object]:
        while True:
            if outer.is_set():
                return "cancelled", None
            left = limit - self.clock()
            if left <= 0:
                return "timeout", None
            try:
                return pieces.get(timeout=min(left, _POLL))
            except queue.Empty:
                continue
