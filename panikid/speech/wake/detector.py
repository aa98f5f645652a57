"""The wake word detector (pure): a threshold and a cooldown, one detection per utterance of the wake word."""

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

    def process(self, model: str, t: float, score: float) -> Detection | None:
        if t < self._cooldown_until or score < self.threshold:
            return None
        self._cooldown_until = t + self.cooldown_seconds
        return Detection(model, score, t)

    def reset(self) -> None:
        self._cooldown_until = float("-inf")
