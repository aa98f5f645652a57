"""The wake word detector (pure): a threshold and a cooldown, one detection per utterance of the wake word;
and the sensitivity levels, which move the threshold around the configured one."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Detection:
    model: str
    score: float
    t: float


@dataclass
class WakeDetector:
    """Pure: feed (model, time, score), get one Detection per utterance of the wake word."""

    threshold: float
    cooldown_seconds: float = 2.0

    def __post_init__(self) -> None:
        self._cooldown_until = float("-inf")

    def process(self, model: str, t: float, score: float, threshold: float | None = None) -> Detection | None:
        """``threshold``: this score's own (the one while the speaker plays), instead of ``self.threshold``."""
        if t < self._cooldown_until or score < (self.threshold if threshold is None else threshold):
            return None
        self._cooldown_until = t + self.cooldown_seconds
        return Detection(model, score, t)

    def reset(self) -> None:
        self._cooldown_until = float("-inf")


SENSITIVITY_OFFSETS = {"low": 0.1, "medium": 0.0, "high": -0.15}
"""How each sensitivity level moves the threshold: ``high`` wakes more easily."""


def sensitivity_threshold(level: str, base: float) -> float:
    """The wake threshold for a sensitivity level, around the configured ``base``.

    ``medium`` keeps the base; ``high`` (wakes more easily) lowers it by 0.15;
    ``low`` raises it by 0.1. A moved threshold is always within 0.05 .. 0.99.
    """
    if level not in SENSITIVITY_OFFSETS:
        raise ValueError(f"unknown wake word sensitivity {level!r}, allowed: {', '.join(SENSITIVITY_OFFSETS)}")
    if level == "medium":
        return base
    return round(min(0.99, max(0.05, base + SENSITIVITY_OFFSETS[level])), 3)
