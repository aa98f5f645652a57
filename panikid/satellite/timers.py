"""Home Assistant's timers on the satellite: Home Assistant counts them and tells the satellite when one
starts, changes, is cancelled or rings (``timer-*`` events); the satellite says so when it rings (pure)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Timer:
    id: str
    seconds: int | None
    name: str | None


def duration(seconds: int) -> str:
    """``300`` -> ``5 minute``; ``90`` -> ``1 minute 30 second``; ``3600`` -> ``1 hour``."""
    h, rest = divmod(max(0, seconds), 3600)
    m, s = divmod(rest, 60)
    parts = [f"{n} {unit}" for n, unit in ((h, "hour"), (m, "minute"), (s, "second")) if n]
    return " ".join(parts) or "0 second"


def rang(timer: Timer | None) -> str:
    """What is said when a timer rings: by its name, else its length."""
    if timer is not None and timer.name:
        return f"Your {timer.name} timer is done."
    if timer is not None and timer.seconds:
        return f"Your {duration(timer.seconds)} timer is done."
    return "Your timer is done."


class TimerTable:
    """The timers Home Assistant runs for this satellite (the ones it told about)."""

    def __init__(self) -> None:
        self.timers: dict[str, Timer] = {}

    def started(self, id: str, seconds: int | None, name: str | None) -> Timer:
        self.timers[id] = Timer(id, seconds, name)
        return self.timers[id]

    def updated(self, id: str, seconds: int | None) -> Timer:
        timer = self.timers.setdefault(id, Timer(id, None, None))
        timer.seconds = seconds if seconds is not None else timer.seconds
        return timer

    def ended(self, id: str) -> Timer | None:
        return self.timers.pop(id, None)
