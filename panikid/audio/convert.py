"""Pure audio conversions: sample formats, channels, sample rates, volume, levels.

Audio travels as signed 16-bit little-endian PCM bytes; numeric work is done
on float32 numpy arrays in [-1, 1). Channel layouts are interleaved, so an
array of N-channel audio has shape ``(frames, N)``.

Resampling uses soxr. For continuous streams (capture, playback) use
``StreamResampler``: it keeps the filter state between blocks, so block edges
do not click, and ``flush()`` returns the filter's tail at the end.
"""

from __future__ import annotations

import numpy as np
import soxr

INT16_SCALE = 32768.0


# --------------------------------------------------------------------------- formats

def pcm16_to_float(pcm: bytes, channels: int = 1) -> np.ndarray:
    """s16le bytes -> float32 array in [-1, 1); shape (n,) for mono, else (n, channels)."""
    if channels < 1:
        raise ValueError(f"channels must be >= 1, got {channels}")
    usable = len(pcm) // (2 * channels) * 2 * channels
    x = np.frombuffer(pcm[:usable], dtype="<i2").astype(np.float32) / INT16_SCALE
    return x if channels == 1 else x.reshape(-1, channels)


def float_to_pcm16(x: np.ndarray) -> bytes:
    """float array (any shape, interleaved) -> s16le bytes, clipped to the int16 range."""
    y = np.clip(np.rint(np.asarray(x, dtype=np.float32) * INT16_SCALE), -32768, 32767)
    return y.astype("<i2").tobytes()


def int_to_float(samples: np.ndarray, bits: int) -> np.ndarray:
    """Signed integer samples of ``bits`` width -> float32 in [-1, 1)."""
    return (samples.astype(np.float64) / float(1 << (bits - 1))).astype(np.float32)


# --------------------------------------------------------------------------- channels

def downmix(x: np.ndarray) -> np.ndarray:
    """(n, channels) -> (n,) by averaging the channels; mono passes through."""
    if x.ndim == 1:
        return x
    if x.shape[1] == 1:
        return x[:, 0]
    return x.mean(axis=1, dtype=np.float32)


def upmix(x: np.ndarray, channels: int) -> np.ndarray:
    """Mono (n,) -> (n, channels) with the same signal on every channel."""
    if channels == 1:
        return x.reshape(-1)
    return np.repeat(x.reshape(-1, 1), channels, axis=1)


def downmix_pcm16(pcm: bytes, channels: int) -> bytes:
    if channels == 1:
        return pcm
    return float_to_pcm16(downmix(pcm16_to_float(pcm, channels)))


def upmix_pcm16(pcm: bytes, channels: int) -> bytes:
    if channels == 1:
        return pcm
    mono = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2")
    return np.repeat(mono.reshape(-1, 1), channels, axis=1).tobytes()


# --------------------------------------------------------------------------- rates

def resample(x: np.ndarray, from_rate: int, to_rate: int, quality: str = "HQ") -> np.ndarray:
    """One-shot resampling of a whole signal (mono (n,) or (n, channels))."""
    if from_rate == to_rate or len(x) == 0:
        return np.asarray(x, dtype=np.float32)
    return soxr.resample(np.asarray(x, dtype=np.float32), from_rate, to_rate, quality=quality)


def resample_pcm16(pcm: bytes, from_rate: int, to_rate: int, channels: int = 1) -> bytes:
    if from_rate == to_rate:
        return pcm
    return float_to_pcm16(resample(pcm16_to_float(pcm, channels), from_rate, to_rate))


class StreamResampler:
    """Resample a continuous stream block by block (no clicks at block edges).

    ``process`` may return fewer samples than the block's share at first (the
    filter's delay); ``flush`` returns what is left at the end of the stream,
    after which the resampler starts afresh.
    """

    def __init__(self, from_rate: int, to_rate: int, channels: int = 1, quality: str = "HQ") -> None:
        self.from_rate = from_rate
        self.to_rate = to_rate
        self.channels = channels
        self.quality = quality
        self._stream: soxr.ResampleStream | None = None
        self._reset()

    def _reset(self) -> None:
        self._stream = None
        if self.from_rate != self.to_rate:
            self._stream = soxr.ResampleStream(
                self.from_rate, self.to_rate, self.channels, dtype="float32", quality=self.quality
            )

    def process(self, x: np.ndarray, last: bool = False) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float32)
        if self._stream is None:
            return x
        y = self._stream.resample_chunk(x, last=last)
        if last:
            self._reset()
        return y

    def flush(self) -> np.ndarray:
        shape = (0,) if self.channels == 1 else (0, self.channels)
        return self.process(np.zeros(shape, dtype=np.float32), last=True)

    def process_pcm16(self, pcm: bytes, last: bool = False) -> bytes:
        return float_to_pcm16(self.process(pcm16_to_float(pcm, self.channels), last=last))

    def flush_pcm16(self) -> bytes:
        return float_to_pcm16(self.flush())

    def reset(self) -> None:
        """Drop the filter state (after an interruption)."""
        self._reset()


# --------------------------------------------------------------------------- level

def apply_volume(pcm: bytes, volume: float) -> bytes:
    """Scale s16le audio by ``volume`` (>= 0), clipping instead of wrapping around."""
    if volume < 0:
        raise ValueError(f"volume must be >= 0, got {volume}")
    if volume == 1.0:
        return pcm
    x = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2").astype(np.float32) * volume
    return np.clip(np.rint(x), -32768, 32767).astype("<i2").tobytes()


def rms(x: np.ndarray | bytes) -> float:
    """Root mean square of float samples (or of s16le bytes, scaled to [-1, 1))."""
    a = pcm16_to_float(x) if isinstance(x, (bytes, bytearray, memoryview)) else np.asarray(x, np.float64)
    if a.size == 0:
        return 0.0
    return float(np.sqrt(np.mean(np.square(a, dtype=np.float64))))


def dbfs(x: np.ndarray | bytes) -> float:
    """Level in dB relative to full scale (a full-scale sine is about -3 dBFS); silence is -inf."""
    r = rms(x)
    return float("-inf") if r <= 0 else 20.0 * float(np.log10(r))


def peak_frequency(x: np.ndarray | bytes, sample_rate: int) -> float:
    """Frequency (Hz) of the strongest FFT bin, windowed; 0.0 for silence."""
    a = pcm16_to_float(x) if isinstance(x, (bytes, bytearray, memoryview)) else np.asarray(x, np.float32)
    a = downmix(a) if a.ndim == 2 else a
    if a.size < 2 or not np.any(a):
        return 0.0
    spectrum = np.abs(np.fft.rfft(a * np.hanning(a.size)))
    spectrum[0] = 0.0
    return float(np.argmax(spectrum) * sample_rate / a.size)


def sine(freq: float, seconds: float, sample_rate: int, amplitude: float = 0.5) -> np.ndarray:
    """A float32 sine tone (test signals, beeps)."""
    n = int(round(seconds * sample_rate))
    t = np.arange(n, dtype=np.float64) / sample_rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)
