"""How long a silence ends a turn, by the end-of-turn sensitivity (the ``end_of_turn`` setting).

The levels are Home Assistant's names for its "finished speaking detection": ``relaxed`` waits longer
for someone who pauses mid-sentence, ``aggressive`` answers sooner. Each scales the silence the
configuration sets (``vad.silence_seconds``, or ``turn.max_pause_seconds`` with an end-of-turn model),
so a tuned configuration keeps its proportions.
"""

from __future__ import annotations

LEVELS: dict[str, float] = {"relaxed": 1.5, "default": 1.0, "aggressive": 0.6}
"""Each level's factor on the configured silence."""
MIN_SILENCE_SECONDS = 0.2
"""No level ends a turn on a shorter silence (a breath between words is about that long)."""


def silence_for(level: str, configured_seconds: float) -> float:
    """The silence that ends a turn at ``level``; ValueError names the levels for an unknown one."""
    factor = LEVELS.get(level)
    if factor is None:
        raise ValueError(f"end_of_turn: got {level!r}, allowed: {', '.join(LEVELS)}")
    return round(max(MIN_SILENCE_SECONDS, configured_seconds * factor), 3)
