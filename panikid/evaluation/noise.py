"""Noise for the corpus and mixing at a signal-to-noise ratio (pure numpy, seeded).

The SNR is the speech's *active* level against the noise's mean level: pauses
and silence around the speech do not count, or a clip with a long pause would
get quieter noise than one without.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..audio import SAMPLE_RATE

FRAME = 320  # 20 ms
ACTIVE_RANGE_DB = 35.0
"""Frames within this many dB of the loudest one count as active speech."""
FULL_SCALE = 32767.0


def db_to_gain(db: float) -> float:
    return float(10 ** (db / 20))


def _frame_powers(x: np.ndarray) -> np.ndarray:
    n = len(x) // FRAME
    if n == 0:
        return np.array([float(np.mean(x.astype(np.float64) ** 2))]) if len(x) else np.zeros(1)
    frames = x[: n * FRAME].astype(np.float64).reshape(n, FRAME)
    return np.asarray(np.mean(frames**2, axis=1))


def active_power(x: np.ndarray) -> float:
    """Mean power of the active frames of ``x`` (those within ACTIVE_RANGE_DB of the loudest)."""
    p = _frame_powers(x)
    top = float(p.max())
    if top <= 0:
        return 0.0
    active = p[p >= top * 10 ** (-ACTIVE_RANGE_DB / 10)]
    return float(active.mean())


def active_level_dbfs(x: np.ndarray) -> float:
    p = active_power(x)
    return 10 * float(np.log10(p / FULL_SCALE**2)) if p > 0 else float("-inf")


def pink(n: int, rng: np.random.Generator) -> np.ndarray:
    """Pink (1/f) noise of unit RMS: white noise shaped in the frequency domain."""
    if n <= 0:
        return np.zeros(0, dtype=np.float32)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / SAMPLE_RATE)
    shape = np.zeros_like(f)
    shape[f >= 20] = 1 / np.sqrt(f[f >= 20])  # nothing below 20 Hz: a DC drift is not noise anyone hears
    x = np.fft.irfft(spectrum * shape, n)
    return (x / (np.sqrt(np.mean(x**2)) or 1.0)).astype(np.float32)


def babble(n: int, talkers: Sequence[np.ndarray], rng: np.random.Generator, voices: int = 5) -> np.ndarray:
    """Several people talking at once, of unit RMS: ``voices`` streams of random clips, overlaid.

    Each stream is clips from ``talkers`` back to back (starting at a random place),
    brought to the same active level, so no single talker stands out.
    """
    if n <= 0:
        return np.zeros(0, dtype=np.float32)
    if not talkers:
        raise ValueError("babble needs speech to be made of")
    mix = np.zeros(n, dtype=np.float64)
    for _ in range(voices):
        pieces: list[np.ndarray] = []
        have = 0
        while have < n + SAMPLE_RATE:
            clip = talkers[int(rng.integers(len(talkers)))].astype(np.float64)
            p = active_power(clip)
            if p > 0:
                pieces.append(clip / np.sqrt(p))
                have += len(clip)
        stream = np.concatenate(pieces)
        start = int(rng.integers(0, len(stream) - n + 1))
        mix += stream[start : start + n]
    return (mix / (np.sqrt(np.mean(mix**2)) or 1.0)).astype(np.float32)


def mix_at_snr(speech: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """``speech`` (int16) plus ``noise`` (same length, any level) at ``snr_db``; int16 out.

    When the sum would clip, both are turned down together (the SNR stays).
    """
    if len(noise) != len(speech):
        raise ValueError(f"noise has {len(noise)} samples, speech {len(speech)}")
    s = speech.astype(np.float64)
    n = noise.astype(np.float64)
    ps, pn = active_power(s), float(np.mean(n**2))
    if pn > 0 and ps > 0:
        n *= np.sqrt(ps / pn / 10 ** (snr_db / 10))
    out = s + n
    peak = float(np.abs(out).max()) if len(out) else 0.0
    if peak > FULL_SCALE:
        out *= FULL_SCALE / peak
    return np.round(out).astype(np.int16)


def at_level(x: np.ndarray, dbfs: float) -> np.ndarray:
    """``x`` (any scale) as int16 with a mean level of ``dbfs`` (RMS over the whole signal)."""
    f = x.astype(np.float64)
    rms = float(np.sqrt(np.mean(f**2))) if len(f) else 0.0
    if rms > 0:
        f *= FULL_SCALE * db_to_gain(dbfs) / rms
    return np.clip(np.round(f), -32768, 32767).astype(np.int16)


def scale_active(speech: np.ndarray, dbfs: float) -> np.ndarray:
    """``speech`` (int16) with its active level at ``dbfs`` (clipped if it would exceed full scale)."""
    p = active_power(speech)
    if p <= 0:
        return speech
    gain = FULL_SCALE * db_to_gain(dbfs) / np.sqrt(p)
    return np.clip(np.round(speech.astype(np.float64) * gain), -32768, 32767).astype(np.int16)
