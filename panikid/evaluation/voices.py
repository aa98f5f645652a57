"""The voices of the corpus: piper (the project's own TTS) and espeak-ng, and how each says a phrase.

piper voices differ by seed and speaking rate (length scale); one piper process
renders every phrase of one voice, in a fixed order, so the audio is fixed by the
spec. espeak-ng voices differ by voice and words per minute; its output is
trimmed of its own padding with sox (the recipe in the testing notes) and
resampled to 16 kHz mono s16le.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..devtools import fixtures

PIPER_SEEDS = (11, 22, 33)
PIPER_LENGTH_SCALES = (0.8, 1.0, 1.25)
ESPEAK_VOICES = ("en-us", "en-gb", "en-us+f3", "en-us+m3")
ESPEAK_WPM = (130, 150, 170)
TRIM_LEVEL = 164
"""0.5 % of full scale: quieter samples at a clip's ends are the synthesizer's padding."""
TRIM_MARGIN = 0.01


@dataclass(frozen=True)
class Voice:
    engine: str  # "piper" or "espeak"
    name: str  # piper: length scale as text; espeak: the espeak-ng voice
    rate: float  # piper: length scale; espeak: words per minute
    seed: int = 0  # piper only

    @property
    def group(self) -> str:
        """What the report breaks results down by (seeds and speaking rates pooled for espeak)."""
        return f"piper ls={self.rate:g}" if self.engine == "piper" else f"espeak {self.name}"

    @property
    def id(self) -> str:
        if self.engine == "piper":
            return f"piper-s{self.seed}-ls{self.rate:g}"
        return f"espeak-{self.name}-{int(self.rate)}"

    @property
    def wake_phrase(self) -> str:
        """The spelling that makes this engine say "okay nabu" as microWakeWord hears it."""
        return fixtures.WAKE_PHRASE if self.engine == "piper" else "okay nabu"

    def with_wake(self, command: str) -> str:
        """The wake phrase and the command in one breath (pause 0)."""
        first = command if command.startswith("I ") else command[:1].lower() + command[1:]
        return f"{self.wake_phrase.rstrip('.')} {first}"


def piper_voices() -> list[Voice]:
    return [Voice("piper", f"{ls:g}", ls, seed) for ls in PIPER_LENGTH_SCALES for seed in PIPER_SEEDS]


def espeak_voices() -> list[Voice]:
    return [Voice("espeak", v, wpm) for v in ESPEAK_VOICES for wpm in ESPEAK_WPM]


def clip_path(clips_dir: Path, voice: Voice, text: str) -> Path:
    key = hashlib.sha256(text.encode()).hexdigest()[:16]
    return clips_dir / voice.id / f"{key}.wav"


def trim(pcm: np.ndarray) -> np.ndarray:
    """Cut the near-silent padding at both ends of a clip (a little margin kept)."""
    loud = np.flatnonzero(np.abs(pcm.astype(np.int32)) > TRIM_LEVEL)
    if loud.size == 0:
        return pcm
    margin = int(TRIM_MARGIN * fixtures.SAMPLE_RATE)
    return pcm[max(0, loud[0] - margin) : loud[-1] + margin]


def espeak(text: str, voice: Voice, out: Path) -> Path:
    """Say ``text`` with espeak-ng into a trimmed 16 kHz mono WAV."""
    wav = subprocess.run(["espeak-ng", "-v", voice.name, "-s", str(int(voice.rate)), "--stdout", text],
                         check=True, capture_output=True, timeout=60).stdout
    raw = subprocess.run(
        ["sox", "-t", "wav", "-", "-t", "raw", "-r", str(fixtures.SAMPLE_RATE), "-c", "1", "-b", "16",
         "-e", "signed-integer", "-", "silence", "1", "0.02", "0.5%", "reverse", "silence", "1", "0.02", "0.5%",
         "reverse"],
        input=wav, check=True, capture_output=True, timeout=60,
    ).stdout
    return _write(out, np.frombuffer(raw, dtype=np.int16))


def _write(out: Path, pcm: np.ndarray) -> Path:
    tmp = out.with_suffix(".part.wav")
    fixtures.write_pcm(tmp, pcm)
    tmp.replace(out)  # an interrupted run never leaves a truncated clip under its final name
    return out


def missing_tools() -> list[str]:
    return [tool for tool in ("espeak-ng", "sox") if shutil.which(tool) is None]


def render(requests: Iterable[tuple[Voice, str]], clips_dir: Path) -> None:
    """Make every (voice, text) clip that is not on disk yet.

    piper phrases of one voice are rendered by one process, in sorted order, so a
    clip depends only on the voice and on the set of phrases asked for together;
    when any of them is missing (an interrupted run), the whole set is rendered again.
    """
    wanted: dict[Voice, set[str]] = {}
    for voice, text in requests:
        wanted.setdefault(voice, set()).add(text)
    for voice, texts in sorted(wanted.items(), key=lambda kv: kv[0].id):
        missing = [t for t in texts if not clip_path(clips_dir, voice, t).exists()]
        if not missing:
            continue
        ordered = sorted(texts if voice.engine == "piper" else missing)
        if voice.engine == "piper":
            outs = [clip_path(clips_dir, voice, t) for t in ordered]
            raw = [o.with_suffix(".raw.wav") for o in outs]
            fixtures.synthesize_many(list(zip(ordered, raw, strict=True)), seed=voice.seed,
                                     length_scale=voice.rate, job_dir=clips_dir)
            for r, o in zip(raw, outs, strict=True):
                _write(o, trim(fixtures.read_pcm(r)))
                r.unlink()
        else:
            for t in ordered:
                espeak(t, voice, clip_path(clips_dir, voice, t))
