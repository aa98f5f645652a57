"""A circuit breaker per provider (pure: the caller passes the time in).

closed: calls go through; ``failure_threshold`` failures in a row open it.
open: calls are skipped until ``cooldown_seconds`` have passed; then exactly one
call goes out as a probe (half-open). The probe's success closes the breaker;
its failure, or its end without a verdict (the user cancelled the turn), opens
it for another cool-down: one probe per cool-down, never a stream of them.

A caller asks ``available(now)`` to know without changing anything, and
``allow(now)`` right before a call goes out: only that call becomes the probe.
Every allowed call must end in ``record_success``, ``record_failure`` or
``release``, or a half-open breaker would wait for a verdict that never comes.
"""

from __future__ import annotations

from dataclasses import dataclass

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"


@dataclass
class CircuitBreaker:
    failure_threshold: int = 3
    cooldown_seconds: float = 30.0
    state: str = CLOSED
    failures: int = 0
    opened_at: float = 0.0

    def available(self, now: float) -> bool:
        """Would a call be let through at ``now``? Changes nothing."""
        if self.state == CLOSED:
            return True
        return self.state == OPEN and now - self.opened_at >= self.cooldown_seconds

    def allow(self, now: float, force: bool = False) -> bool:
        """A call is about to go out at ``now``: may it? After the cool-down it is the one probe.

        ``force`` lets a call through an open breaker before its cool-down (when every
        provider is cooling down, one is tried anyway); it is then the probe."""
        if self.state == CLOSED:
            return True
        if self.state == OPEN and (force or now - self.opened_at >= self.cooldown_seconds):
            self.state = HALF_OPEN
            return True
        return False  # open, or half-open: one probe at a time, its result decides

    def record_success(self, now: float) -> None:
        self.state = CLOSED
        self.failures = 0

    def record_failure(self, now: float, count: int = 1) -> None:
        """A failed call; ``count`` failures at once for one that leaves no doubt."""
        self.failures += count
        if self.state == HALF_OPEN or self.failures >= self.failure_threshold:
            self.state = OPEN
            self.opened_at = now

    def release(self, now: float) -> None:
        """A call ended with neither success nor failure (the user cancelled it). A probe
        has had its turn: the breaker stays open for another cool-down."""
        if self.state == HALF_OPEN:
            self.state = OPEN
            self.opened_at = now
