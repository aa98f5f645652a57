"""A circuit breaker per provider (pure: the caller passes the time in).

closed: calls go through; ``failure_threshold`` failures in a row open it.
open: calls are skipped until ``cooldown_seconds`` have passed, then one probe
is let through (half-open). The probe's success closes the breaker, its
failure opens it again for another cool-down.
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

    def allow(self, now: float) -> bool:
        """May a call go out at ``now``? Moves open -> half-open after the cool-down."""
        if self.state == OPEN and now - self.opened_at >= self.cooldown_seconds:
            self.state = HALF_OPEN
            return True
        if self.state == HALF_OPEN:
            return False  # one probe at a time; its result decides
        return self.state == CLOSED

    def record_success(self, now: float) -> None:
        self.state = CLOSED
        self.failures = 0

    def record_failure(self, now: float) -> None:
        self.failures += 1
        if self.state == HALF_OPEN or self.failures >= self.failure_threshold:
            self.state = OPEN
            self.opened_at = now

    def release(self) -> None:
        """A probe ended with neither success nor failure (the user cancelled): allow another."""
        if self.state == HALF_OPEN:
            self.state = OPEN
            self.opened_at = -self.cooldown_seconds  # due again at once
