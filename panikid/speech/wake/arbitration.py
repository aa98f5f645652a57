"""Wake arbitration between devices (pure): which of the devices that heard one wake word answers.

Every device that heard the wake word makes a ``Claim`` (its device id, how loud it heard the phrase,
its score, when on the wall clock) and shares it with the others of its group; after a short window
each one decides with the claims it saw, by the same rule, so they agree on the winner:

1. the highest level (the device nearest the speaker hears it loudest),
2. then the highest score,
3. then the lowest device id (two devices never tie).

A claim counts only when it was made within the window of this device's own (by its ``at``): an
older one belongs to an earlier wake word, and one that came after the decision was not seen.
Claims are rounded as they are shared (``Claim.make``), so every device compares the same numbers.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

DEVICE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
"""What a device id in a claim may be (as ``general.device_id``: one MQTT topic level)."""


class ClaimError(ValueError):
    """A message on the arbitration topic is no claim (it is ignored and logged)."""


@dataclass(frozen=True)
class Claim:
    """One device heard the wake word: at ``level_dbfs`` (as captured), with ``score``, at wall time ``at``."""

    device_id: str
    level_dbfs: float
    score: float
    at: float

    @classmethod
    def make(cls, device_id: str, level_dbfs: float, score: float, at: float) -> Claim:
        """A claim as it is shared: level to 0.01 dB, score to 0.001, time to the millisecond."""
        return cls(device_id, round(float(level_dbfs), 2), round(float(score), 3), round(float(at), 3))

    def rank(self) -> tuple[float, float, str]:
        """Sorts the winner first: loudest, then best score, then lowest id."""
        return (-self.level_dbfs, -self.score, self.device_id)

    def to_json(self) -> str:
        return json.dumps({"device_id": self.device_id, "level_dbfs": self.level_dbfs, "score": self.score,
                           "at": self.at})

    @classmethod
    def from_json(cls, payload: bytes | str) -> Claim:
        """A claim from its JSON; ``ClaimError`` naming what is wrong when it is none."""
        try:
            data: Any = json.loads(payload)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ClaimError(f"a claim must be a JSON object: {exc}") from None
        if not isinstance(data, dict):
            raise ClaimError(f"a claim must be a JSON object, got {type(data).__name__}")
        device = data.get("device_id")
        if not isinstance(device, str) or not DEVICE_ID.match(device):
            raise ClaimError(f"a claim's device_id must be 1-64 letters, digits, '_' or '-', got {device!r:.80}")
        numbers: dict[str, float] = {}
        for key in ("level_dbfs", "score", "at"):
            value = data.get(key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ClaimError(f"a claim's {key} must be a finite number, got {value!r:.80}")
            numbers[key] = float(value)
        return cls(device, numbers["level_dbfs"], numbers["score"], numbers["at"])


@dataclass(frozen=True)
class Decision:
    """Who answers, and the claims the decision was made on (this device's own among them)."""

    winner: str
    won: bool
    claims: tuple[Claim, ...]

    @property
    def levels(self) -> dict[str, float]:
        return {c.device_id: c.level_dbfs for c in self.claims}

    @property
    def apart_seconds(self) -> float:
        """How far apart the first and the last claim were made (0 when alone)."""
        times = [c.at for c in self.claims]
        return max(times) - min(times)


def in_window(mine: Claim, other: Claim, window_seconds: float) -> bool:
    """``other`` belongs to the same wake word as ``mine``: made within the window of it, either side."""
    return abs(other.at - mine.at) <= window_seconds


def decide(mine: Claim, others: Iterable[Claim], window_seconds: float) -> Decision:
    """The winner among my claim and the others' within the window (of each device, its claim nearest
    mine in time)."""
    nearest: dict[str, Claim] = {}
    for c in others:
        if c.device_id == mine.device_id or not in_window(mine, c, window_seconds):
            continue
        seen = nearest.get(c.device_id)
        if seen is None or abs(c.at - mine.at) < abs(seen.at - mine.at):
            nearest[c.device_id] = c
    claims = sorted([mine, *nearest.values()], key=Claim.rank)
    return Decision(winner=claims[0].device_id, won=claims[0] is mine, claims=tuple(claims))
