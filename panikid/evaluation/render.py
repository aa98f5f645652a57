"""One positive item or negative stretch as audio, with the times of what is said in it.

An item is: lead silence, the wake phrase, the pause, the command (its halves
apart by a hesitation silence when it has one), 3 s of tail, all under the
item's noise; then a guard of digital silence, so a turn that the noise kept
open ends before the next item begins. With pause 0 the wake phrase and the
command's first half are one phrase, spoken in one breath.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import noise
from .plan import ItemSpec, NegativeSpec
from .voices import Voice

SAMPLE_RATE = noise.SAMPLE_RATE
LEAD_SECONDS = (0.6, 1.2)
GAP_SECONDS = (0.6, 1.2)
"""The silence of a mid-sentence hesitation."""
TAIL_SECONDS = 3.0
GUARD_SECONDS = 1.0
LEVEL_DBFS = (-27.0, -21.0)
"""Active speech level, drawn per item: people speak at different distances from the microphone."""
SENTENCE_GAP_SECONDS = (0.4, 1.5)

Clips = Callable[[Voice, str], np.ndarray]


@dataclass
class Rendered:
    pcm: np.ndarray
    meta: dict[str, Any]
    """Times in seconds from the start of this piece of audio, and what it holds."""


def _silence(seconds: float) -> np.ndarray:
    return np.zeros(int(round(seconds * SAMPLE_RATE)), dtype=np.int16)


class _Timeline:
    def __init__(self) -> None:
        self.parts: list[np.ndarray] = []
        self.samples = 0

    @property
    def now(self) -> float:
        return self.samples / SAMPLE_RATE

    def add(self, pcm: np.ndarray) -> tuple[float, float]:
        start = self.now
        self.parts.append(pcm)
        self.samples += len(pcm)
        return start, self.now

    def audio(self) -> np.ndarray:
        return np.concatenate(self.parts) if self.parts else np.zeros(0, dtype=np.int16)


def render_item(spec: ItemSpec, clips: Clips, talkers: Sequence[np.ndarray]) -> Rendered:
    rng = np.random.default_rng(spec.seed)
    voice, command = spec.voice, spec.command
    parts = command.parts
    tl = _Timeline()
    tl.add(_silence(rng.uniform(*LEAD_SECONDS)))
    if spec.pause == 0:
        wake_start, first_end = tl.add(clips(voice, voice.with_wake(parts[0])))
        wake_end = command_start = None
    else:
        wake_start, wake_end = tl.add(clips(voice, voice.wake_phrase))
        tl.add(_silence(spec.pause))
        command_start, first_end = tl.add(clips(voice, parts[0]))
    command_end = first_end
    gaps: list[float] = []
    for part in parts[1:]:
        gap = float(rng.uniform(*GAP_SECONDS))
        gaps.append(round(gap, 3))
        tl.add(_silence(gap))
        _, command_end = tl.add(clips(voice, part))
    tl.add(_silence(TAIL_SECONDS))
    speech = noise.scale_active(tl.audio(), float(rng.uniform(*LEVEL_DBFS)))
    cond = spec.condition
    if cond.noise == "pink":
        speech = noise.mix_at_snr(speech, noise.pink(len(speech), rng), float(cond.snr_db or 0))
    elif cond.noise == "babble":
        speech = noise.mix_at_snr(speech, noise.babble(len(speech), talkers, rng), float(cond.snr_db or 0))
    pcm = np.concatenate([speech, _silence(GUARD_SECONDS)])

    def r(x: float | None) -> float | None:
        return None if x is None else round(x, 3)

    meta = {
        "id": spec.id, "kind": "positive", "voice": voice.id, "voice_group": voice.group, "engine": voice.engine,
        "command": command.id, "say": command.say, "expect": command.expect, "intent": command.intent,
        "command_kind": command.kind, "hesitation": command.hesitation, "hesitation_gaps": gaps,
        "pause": spec.pause, "condition": cond.label, "noise": cond.noise, "snr_db": cond.snr_db,
        "wake_start": r(wake_start), "wake_end": r(wake_end), "command_start": r(command_start),
        "command_end": r(command_end), "end": r(len(pcm) / SAMPLE_RATE),
    }
    return Rendered(pcm, meta)


def render_negative(spec: NegativeSpec, clips: Clips, talkers: Sequence[np.ndarray]) -> Rendered:
    rng = np.random.default_rng(spec.seed)
    if spec.kind == "speech":
        assert spec.voice is not None
        tl = _Timeline()
        tl.add(_silence(0.5))
        for text in spec.sentences:
            tl.add(clips(spec.voice, text))
            tl.add(_silence(rng.uniform(*SENTENCE_GAP_SECONDS)))
        pcm = noise.scale_active(tl.audio(), float(rng.uniform(*LEVEL_DBFS)))
    elif spec.kind == "pink":
        pcm = noise.at_level(noise.pink(int(spec.seconds * SAMPLE_RATE), rng), spec.level_dbfs)
    elif spec.kind == "babble":
        pcm = noise.at_level(noise.babble(int(spec.seconds * SAMPLE_RATE), talkers, rng), spec.level_dbfs)
    elif spec.kind == "silence":
        pcm = _silence(spec.seconds)
    else:
        raise ValueError(f"unknown negative kind {spec.kind!r}")
    meta = {"id": spec.id, "kind": "negative", "negative_kind": spec.kind,
            "voice": spec.voice.id if spec.voice else None,
            "voice_group": spec.voice.group if spec.voice else None,
            "level_dbfs": spec.level_dbfs if spec.kind in ("pink", "babble") else None,
            "end": round(len(pcm) / SAMPLE_RATE, 3)}
    return Rendered(pcm, meta)
