"""The audio front end: cleaning the microphone's audio, levelling the replies' (no I/O, no frames).

``InputCleaner`` runs WebRTC's audio processing module (``pywebrtc-audio``: the
high-pass filter, the echo canceller AEC3, noise suppression NS and automatic
gain control AGC2 of Chrome's WebRTC stack) on the 16 kHz mono stream; the echo
canceller's far end is what the speaker played (:mod:`panikid.audio.echo`), in 10 ms steps, keeping its
state from block to block. Blocks that are not a whole number of 10 ms steps
are carried over, so the output is at most 10 ms behind and never reordered.

``LoudnessLeveler`` brings the replies' speech to one loudness (the RMS of its
voiced 10 ms windows, in dBFS) whatever the voice model: it measures the level
of the voice as it speaks (a running average, so one quiet word does not pump
the gain), applies the gain that reaches the target, bounded to
+-``MAX_GAIN_DB``, and never lets a peak clip.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .convert import INT16_SCALE
from .duck import Duck, DuckDecider
from .echo import EchoReference

log = logging.getLogger(__name__)

STEP = 160
"""Samples in one 10 ms step at 16 kHz: the unit WebRTC's processing works in."""
MAX_GAIN_DB = 15.0
VOICED_RANGE_DB = 30.0
"""A 10 ms window within this many dB of the block's loudest counts as voiced (so the measure does not
depend on the gain)..."""
SILENT_DBFS = -60.0
"""...unless it is quieter than this: a block of near silence has no voice to measure."""
PEAK = 0.97


@dataclass(frozen=True)
class CleanerSettings:
    high_pass: bool = True
    noise_suppression: bool = False
    noise_suppression_level: int = 1
    auto_gain: bool = False
    echo_cancellation: bool = False
    duck_db: float = 0.0
    """Turn the reply down by this much while the user talks over it (0: never); needs echo cancellation."""

    @property
    def any(self) -> bool:
        return self.high_pass or self.noise_suppression or self.auto_gain or self.echo_cancellation

    def describe(self) -> str:
        parts = [name for name, on in (("high-pass", self.high_pass), ("echo cancellation (AEC3)",
                 self.echo_cancellation), (f"noise suppression level {self.noise_suppression_level}",
                 self.noise_suppression), ("AGC2", self.auto_gain),
                 (f"ducking the reply {self.duck_db:g} dB under the user's voice",
                  self.echo_cancellation and self.duck_db > 0)) if on]
        return ", ".join(parts) or "off"


class InputCleaner:
    """High-pass, noise suppression and AGC on 16 kHz mono s16le, as configured (all off: unchanged)."""

    def __init__(self, settings: CleanerSettings, sample_rate: int = 16000,
                 reference: EchoReference | None = None, duck: Duck | None = None) -> None:
        """``reference``: what the speaker plays; echo cancellation needs it (without one it is off).
        ``duck``: the speaker's gain, turned down while the user talks over a reply (``duck_db``)."""
        if sample_rate != 16000:
            raise ValueError(f"the front end works at 16000 Hz, got {sample_rate}")
        if reference is None and settings.echo_cancellation:
            settings = dataclasses.replace(settings, echo_cancellation=False)
        self.settings = settings
        self.reference = reference if settings.echo_cancellation else None
        self._apm: Any = None
        if settings.any:
            webrtc = importlib.import_module("pywebrtc_audio")
            self._apm = webrtc.AudioProcessor(
                sample_rate=sample_rate, high_pass_filter=settings.high_pass,
                echo_cancellation=settings.echo_cancellation,
                noise_suppression=settings.noise_suppression, ns_level=settings.noise_suppression_level,
                auto_gain_control=settings.auto_gain,
            )
        self._carry = np.zeros(0, dtype=np.int16)
        self.duck = duck if self.reference is not None and settings.duck_db > 0 else None
        self.ducker = DuckDecider(settings.duck_db) if self.duck is not None else None
        self._vad: Any = importlib.import_module("webrtcvad").Vad(2) if self.ducker is not None else None

    @property
    def playing(self) -> bool:
        """The speaker is playing (known with echo cancellation, which is handed what it plays)."""
        return self.reference is not None and self.reference.playing

    @property
    def active(self) -> bool:
        return self._apm is not None

    def process(self, pcm: bytes) -> bytes:
        """Clean one block; returns whole 10 ms steps (what is left over comes with the next block)."""
        if self._apm is None:
            return pcm
        x = np.frombuffer(pcm, dtype="<i2")
        if self._carry.size:
            x = np.concatenate([self._carry, x])
        whole = x.size // STEP * STEP
        self._carry = x[whole:].copy()
        if not whole:
            return b""
        near = np.ascontiguousarray(x[:whole])
        if self.reference is None:
            return bytes(self._apm.process(near).astype("<i2").tobytes())
        cleaned = self._apm.process(near, self.reference.take(whole))
        out = bytes(cleaned.astype("<i2").tobytes())
        playing = self.reference.playing
        if playing:
            self.reference.note_reduction(near, cleaned)
        if self.ducker is not None and self.duck is not None:
            before = self.ducker.times_ducked
            for k in range(0, len(out), 2 * STEP):
                speech = bool(self._vad.is_speech(out[k:k + 2 * STEP], 16000)) if playing else False
                self.duck.target = self.ducker.step(speech, playing)
            if self.ducker.times_ducked != before:
                log.info("speech over the reply: the reply is turned down %g dB", self.settings.duck_db)
        return out

    @property
    def gain_db(self) -> float | None:
        """AGC2's current gain (None without AGC)."""
        if self._apm is None or not self.settings.auto_gain:
            return None
        return float(self._apm.gain_db)

    def reset(self) -> None:
        if self._apm is not None:
            self._apm.reset()
        self._carry = np.zeros(0, dtype=np.int16)


def voiced_dbfs(x: np.ndarray, sample_rate: int) -> tuple[float, float]:
    """(RMS level in dBFS of the voiced 10 ms windows of float audio ``x``, seconds voiced)."""
    win = max(1, sample_rate // 100)
    n = x.size // win
    if n == 0:
        return -math.inf, 0.0
    power = np.mean(x[: n * win].reshape(n, win).astype(np.float64) ** 2, axis=1)
    voiced = (power > 10 ** (SILENT_DBFS / 10)) & (power >= power.max() * 10 ** (-VOICED_RANGE_DB / 10))
    if not voiced.any():
        return -math.inf, 0.0
    return float(10 * math.log10(power[voiced].mean())), float(voiced.sum()) * win / sample_rate


class LoudnessLeveler:
    """Replies at ``target_dbfs`` (voiced RMS), measured as the voice speaks and kept across replies."""

    def __init__(self, target_dbfs: float = -20.0, memory_seconds: float = 8.0) -> None:
        self.target_dbfs = target_dbfs
        self.memory_seconds = memory_seconds
        self.level_dbfs: float | None = None
        """The voice's level so far (None until it has said something)."""
        self._voiced_seconds = 0.0

    def gain_db(self) -> float:
        if self.level_dbfs is None:
            return 0.0
        return max(-MAX_GAIN_DB, min(MAX_GAIN_DB, self.target_dbfs - self.level_dbfs))

    def process(self, pcm: bytes, sample_rate: int) -> bytes:
        if not pcm:
            return pcm
        x = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / INT16_SCALE
        level, seconds = voiced_dbfs(x, sample_rate)
        if seconds > 0:
            # The average power of all speech so far, then of about the last memory_seconds of it.
            self._voiced_seconds = min(self.memory_seconds, self._voiced_seconds + seconds)
            w = seconds / self._voiced_seconds
            before = 0.0 if self.level_dbfs is None else 10 ** (self.level_dbfs / 10)
            self.level_dbfs = 10 * math.log10((1 - w) * before + w * 10 ** (level / 10))
        y = x * np.float32(10 ** (self.gain_db() / 20))
        peak = float(np.abs(y).max())
        if peak > PEAK:
            y *= np.float32(PEAK / peak)
        return bytes(np.clip(np.rint(y * INT16_SCALE), -32768, 32767).astype("<i2").tobytes())
