"""Ducking: the reply turned down while the user talks over it.

The echo canceller's suppressor takes some of the user's voice with the echo when both speak at once
(double talk); less echo leaves more of the user. ``DuckDecider`` (pure) hears the voice activity of
the cleaned microphone in 10 ms steps while the speaker plays and answers the gain the reply should
have: ``VOTES`` speech steps of the last ``WINDOW`` turn it down by ``duck_db``, ``RELEASE_SECONDS``
without speech (or the end of the reply) bring it back. ``Duck`` carries that gain from the capture
side to the speaker's callback, which applies it to each block (ramped, so it never clicks) before the
block is played and handed to the echo canceller as its far end: the reference stays exactly what the
room hears.
"""

from __future__ import annotations

from collections import deque

import numpy as np

STEP_SECONDS = 0.01
VOTES = 9
WINDOW = 15
"""9 speech steps in the last 150 ms: a word, not a click."""
RELEASE_SECONDS = 1.0


class DuckDecider:
    """Pure: feed ``step(speech, playing)`` every 10 ms, get the reply's gain (linear, 1.0 = not ducked)."""

    def __init__(self, duck_db: float) -> None:
        if not 0 < duck_db <= 40:
            raise ValueError(f"duck_db must be in (0, 40], got {duck_db}")
        self.gain_ducked = 10 ** (-duck_db / 20)
        self._votes: deque[bool] = deque(maxlen=WINDOW)
        self._quiet_steps = 0
        self.ducked = False
        self.times_ducked = 0

    def step(self, speech: bool, playing: bool) -> float:
        if not playing:
            self._votes.clear()
            self.ducked = False
            return 1.0
        self._votes.append(speech)
        self._quiet_steps = 0 if speech else self._quiet_steps + 1
        if not self.ducked and sum(self._votes) >= VOTES:
            self.ducked = True
            self.times_ducked += 1
        elif self.ducked and self._quiet_steps >= round(RELEASE_SECONDS / STEP_SECONDS):
            self.ducked = False
        return self.gain_ducked if self.ducked else 1.0


class Duck:
    """The reply's gain, set on the capture side (``target``), applied on the speaker's thread."""

    def __init__(self) -> None:
        self.target = 1.0  # one float: assigning it is atomic
        self._gain = 1.0

    def apply(self, block: bytes, channels: int) -> bytes:
        """``block`` (s16le, interleaved) at the current gain, ramped from the last block's."""
        target = self.target
        if target == 1.0 and self._gain == 1.0:
            return block
        x = np.frombuffer(block, dtype="<i2").astype(np.float32).reshape(-1, channels)
        ramp = np.linspace(self._gain, target, x.shape[0], endpoint=False, dtype=np.float32)[:, None]
        self._gain = target
        return bytes(np.clip(np.rint(x * ramp), -32768, 32767).astype("<i2").tobytes())
