"""Short sounds that tell the user what the assistant is doing: listening, done listening, failed.

Built-in cues are generated (a few soft sine notes with smooth edges), so
nothing has to be shipped or downloaded; a cue can also be any WAV file.
``load_cue`` turns a configured name into 16-bit mono PCM at the output's rate.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .convert import float_to_pcm16, resample

BUILT_IN = ("chime", "done", "error")
"""The generated cues; ``none`` (or an empty string) turns a cue off."""
MAX_CUE_SECONDS = 2.0
"""A cue longer than this would hide the user's words: refused."""

# (frequency in Hz, seconds) per note, played back to back.
_NOTES: dict[str, list[tuple[float, float]]] = {
    "chime": [(880.0, 0.07), (1318.5, 0.11)],  # rising: "I am listening"
    "done": [(1318.5, 0.06), (880.0, 0.09)],  # falling: "got it"
    "error": [(392.0, 0.12), (311.1, 0.18)],  # low, falling: "that did not work"
}


class CueError(ValueError):
    """A configured cue cannot be used; the message names it and says why."""


@dataclass(frozen=True)
class Cue:
    name: str
    pcm: bytes
    sample_rate: int

    @property
    def seconds(self) -> float:
        return len(self.pcm) / 2 / self.sample_rate


def _note(freq: float, seconds: float, rate: int) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    tone = np.sin(2 * np.pi * freq * t) + 0.25 * np.sin(4 * np.pi * freq * t)  # a little warmth
    fade = min(len(t) // 2, int(0.012 * rate))  # 12 ms raised-cosine edges: no clicks
    env = np.ones(len(t))
    ramp = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, fade))
    env[:fade], env[len(t) - fade :] = ramp, ramp[::-1]
    decay = np.exp(-t / max(seconds, 1e-3) * 1.5)
    return tone * env * decay


def generate(name: str, sample_rate: int, level: float = 0.3) -> bytes:
    """A built-in cue as s16le mono at ``sample_rate``, peaking at ``level`` of full scale."""
    if name not in _NOTES:
        raise CueError(f"unknown built-in cue {name!r}; built-in cues: {', '.join(BUILT_IN)}")
    x = np.concatenate([_note(f, s, sample_rate) for f, s in _NOTES[name]])
    x = x / np.max(np.abs(x)) * level
    return float_to_pcm16(x.astype(np.float32))


def load_cue(spec: str, sample_rate: int, level: float = 0.3) -> Cue | None:
    """The cue a configuration value names: a built-in name, a WAV path, or none/empty (None)."""
    spec = spec.strip()
    if spec in ("", "none"):
        return None
    if spec in _NOTES:
        return Cue(spec, generate(spec, sample_rate, level), sample_rate)
    from .wav import AudioInputError, read_wav

    path = Path(spec).expanduser()
    if not path.is_file():
        raise CueError(f"cue {spec!r} is neither a built-in cue ({', '.join(BUILT_IN)}, none) nor a WAV file")
    try:
        pcm, _info = read_wav(path)  # 16 kHz mono s16le, whatever the file was
    except AudioInputError as exc:
        raise CueError(f"cue {spec!r}: {exc}") from None
    seconds = len(pcm) / 2 / 16000
    if seconds > MAX_CUE_SECONDS:
        raise CueError(f"cue {spec!r} lasts {seconds:.1f} s; a cue may last at most {MAX_CUE_SECONDS:.0f} s")
    x = np.frombuffer(pcm, dtype=np.int16).astype(np.float32) / 32768.0
    if sample_rate != 16000:
        x = resample(x, 16000, sample_rate)
    return Cue(path.stem, float_to_pcm16(x), sample_rate)
