"""Kitchen timers (pure: every method takes the current time)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Timer:
    id: int
    seconds: float
    due: float
    label: str


def describe_duration(seconds: float) -> str:
    """'5 seconds', '1 minute and 30 seconds', '2 hours'."""
    s = int(round(seconds))
    parts = []
    for unit, size in (("hour", 3600), ("minute", 60), ("second", 1)):
        n, s = divmod(s, size)
        if n:
            parts.append(f"{n} {unit}{'s' if n != 1 else ''}")
    return " and ".join(parts) or "0 seconds"


@dataclass
class TimerTable:
    max_timers: int = 10
    timers: list[Timer] = field(default_factory=list)
    _next_id: int = 1

    def add(self, seconds: float, now: float, label: str = "") -> Timer:
        if len(self.timers) >= self.max_timers:
            raise ValueError(f"already {self.max_timers} timers running")
        timer = Timer(self._next_id, seconds, now + seconds, label or describe_duration(seconds))
        self._next_id += 1
        self.timers.append(timer)
        return timer

    def cancel_all(self) -> list[Timer]:
        gone, self.timers = self.timers, []
        return gone

    def cancel_last(self) -> Timer | None:
        return self.timers.pop() if self.timers else None

    def pop_due(self, now: float) -> list[Timer]:
        """Remove and return the timers that are done at ``now``."""
        due = [t for t in self.timers if t.due <= now]
        self.timers = [t for t in self.timers if t.due > now]
        return due

    def remaining(self, now: float) -> list[tuple[Timer, float]]:
        return [(t, max(0.0, t.due - now)) for t in sorted(self.timers, key=lambda t: t.due)]
