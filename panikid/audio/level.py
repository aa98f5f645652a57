"""The microphone's level, as captured: dBFS of s16le blocks and a short history of them (pure).

Devices that heard the same wake word compare how loud they heard it (the nearest answers), so the
level is taken from the raw capture, before the audio front end: noise suppression and automatic gain
control would bring every device's audio to about the same level.

A block's level is the RMS of its samples relative to full scale (a full-scale sine is about -3 dBFS);
digital silence is ``FLOOR_DBFS``, never -inf, so a level is always a finite number JSON can carry.
The level of a stretch of blocks is their mean power, in dBFS: the loud syllables of a phrase count
for what they are, a single click does not decide it.
"""

from __future__ import annotations

import math
from collections import deque

from .convert import dbfs

FLOOR_DBFS = -100.0
"""The level of digital silence (one least significant bit of 16-bit audio is about -90 dBFS)."""


def power_dbfs(power: float) -> float:
    """A mean power (full scale = 1) in dBFS, floored at ``FLOOR_DBFS``."""
    if power <= 0:
        return FLOOR_DBFS
    return max(FLOOR_DBFS, 10.0 * math.log10(power))


def block_dbfs(pcm: bytes) -> float:
    """The level of one s16le block in dBFS (its RMS: :func:`~panikid.audio.convert.dbfs`), floored at
    ``FLOOR_DBFS``."""
    return max(FLOOR_DBFS, dbfs(pcm[: len(pcm) // 2 * 2]))


class LevelHistory:
    """The levels of the last ``seconds`` of blocks, by stream time; the level of a stretch of them."""

    def __init__(self, seconds: float = 1.5) -> None:
        self.seconds = seconds
        self._blocks: deque[tuple[float, float, float]] = deque()  # (start t, end t, power)

    def add(self, t: float, duration: float, level_dbfs: float) -> None:
        """A block that starts at stream time ``t``, lasts ``duration`` s, at ``level_dbfs``."""
        self._blocks.append((t, t + duration, 10 ** (level_dbfs / 10)))
        while self._blocks and self._blocks[0][1] < t + duration - self.seconds:
            self._blocks.popleft()

    def level(self, end_t: float, seconds: float) -> float | None:
        """The mean level (dBFS) of the blocks that overlap ``[end_t - seconds, end_t]``; None if none do."""
        start = end_t - seconds
        powers = [p for a, b, p in self._blocks if b > start and a < end_t]
        if not powers:
            return None
        return power_dbfs(sum(powers) / len(powers))

    def clear(self) -> None:
        self._blocks.clear()

