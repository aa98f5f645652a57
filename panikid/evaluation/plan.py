"""What a slice of the corpus holds: positive items, negative stretches, and the babble talkers.

Pure and deterministic: the same slice name gives the same plan, and the plan
(with the generator version) names the cached corpus. In the ``full`` slice
every spoken item is heard in every condition (clean, pink and babble noise at
20, 10 and 5 dB SNR), so conditions are compared on the same speech. The
``noise`` slice is the part of it that tells the audio front end's settings
apart: clean and 10 and 5 dB SNR, two pauses, in a fifth of the time.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import asdict, dataclass, field
from typing import Any

from . import GENERATOR_VERSION
from .commands import Command, load
from .sentences import negative_sentences
from .voices import Voice, espeak_voices, piper_voices

PAUSES = (0.0, 0.3, 0.6, 0.8, 1.0, 1.5, 2.0)
NOISES = ("pink", "babble")
SNRS = (20, 10, 5)
SLICES = ("ci", "noise", "full")
SEED = 20240611


@dataclass(frozen=True)
class Condition:
    noise: str  # "clean", "pink" or "babble"
    snr_db: float | None = None

    @property
    def label(self) -> str:
        return "clean" if self.noise == "clean" else f"{self.noise} {self.snr_db:g} dB"


CLEAN = Condition("clean")
CONDITIONS = (CLEAN, *(Condition(n, s) for n in NOISES for s in SNRS))


@dataclass(frozen=True)
class ItemSpec:
    """One positive item: wake phrase, pause, command, in one voice and condition."""

    id: str
    voice: Voice
    command: Command
    pause: float
    condition: Condition
    seed: int  # lead silence, hesitation gap, level and noise of this item


@dataclass(frozen=True)
class NegativeSpec:
    """A stretch without the wake word: sentences of one voice, noise or silence."""

    id: str
    kind: str  # "speech", "pink", "babble" or "silence"
    seconds: float = 0.0  # noise and silence; speech lasts as long as its sentences
    voice: Voice | None = None
    sentences: tuple[str, ...] = ()
    level_dbfs: float = -24.0
    seed: int = 0


@dataclass(frozen=True)
class Plan:
    slice: str
    items: tuple[ItemSpec, ...]
    negatives: tuple[NegativeSpec, ...]
    babble_talkers: tuple[tuple[Voice, str], ...]
    extra: dict[str, Any] = field(default_factory=dict)

    def key(self) -> str:
        """The cache key: generator version and everything the audio depends on."""
        blob = json.dumps({"version": GENERATOR_VERSION, "plan": asdict(self)}, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _voices() -> list[Voice]:
    return piper_voices() + espeak_voices()


def _by_group(voices: list[Voice]) -> dict[str, list[Voice]]:
    groups: dict[str, list[Voice]] = {}
    for v in voices:
        groups.setdefault(v.group, []).append(v)
    return groups


def _full_items(rng: random.Random, per_pause: int, pauses: tuple[float, ...] = PAUSES,
                conditions: tuple[Condition, ...] = CONDITIONS) -> list[ItemSpec]:
    """``per_pause`` spoken items per pause, each in every condition; voices and commands cycled."""
    intents = [c for c in load() if c.intent]
    others = [c for c in load() if not c.intent]
    rng.shuffle(intents)
    rng.shuffle(others)
    # Alternated, so every pause gets about the same share of instant intents.
    commands = [c for pair in zip(intents, others, strict=False) for c in pair]
    longer = intents if len(intents) > len(others) else others
    commands += longer[min(len(intents), len(others)):]
    groups = _by_group(_voices())
    names = sorted(groups)
    items: list[ItemSpec] = []
    k = 0
    for pause in pauses:
        for _ in range(per_pause):
            command = commands[k % len(commands)]
            group = groups[names[k % len(names)]]
            voice = group[(k // len(names)) % len(group)]
            base = f"p{pause:g}-{k:03d}"
            for cond in conditions:
                items.append(ItemSpec(f"{base}-{cond.label.replace(' ', '')}", voice, command, pause, cond,
                                      rng.randrange(2**31)))
            k += 1
    return items


def _ci_items(rng: random.Random) -> list[ItemSpec]:
    """Every pause clean (pauses 0 and 0.3: instant intents in piper voices first), and a few noisy items."""
    cmd = {c.id: c for c in load()}
    pv = {v.id: v for v in _voices()}
    picks = [
        (0.0, "time-what", "piper-s11-ls1"), (0.0, "volume-up", "piper-s22-ls0.8"),
        (0.0, "q-capital-france", "espeak-en-us-150"),
        (0.3, "date-day", "piper-s33-ls1.25"), (0.3, "timer-twenty", "piper-s11-ls1"),
        (0.3, "device-kitchen-lights", "espeak-en-gb-150"),
        (0.6, "timer-cancel", "piper-s22-ls1"), (0.6, "q-moon", "espeak-en-us+m3-130"),
        (0.8, "volume-set", "piper-s11-ls1.25"), (0.8, "chat-joke", "espeak-en-us-170"),
        (1.0, "timer-hesitant", "piper-s33-ls0.8"), (1.0, "stop", "espeak-en-gb-130"),
        (1.5, "time-tell", "piper-s22-ls1.25"), (1.5, "q-romeo", "espeak-en-us+f3-150"),
        (2.0, "volume-down", "piper-s11-ls0.8"), (2.0, "device-lock-door", "espeak-en-us-130"),
    ]
    items = [ItemSpec(f"p{p:g}-{i:03d}-clean", pv[v], cmd[c], p, CLEAN, rng.randrange(2**31))
             for i, (p, c, v) in enumerate(picks)]
    noisy = [(0.0, "time-current", "piper-s22-ls1", Condition("pink", 10)),
             (0.3, "timer-left", "piper-s33-ls1", Condition("babble", 10)),
             (0.0, "date-what", "espeak-en-gb-170", Condition("pink", 20)),
             (0.3, "volume-lower", "piper-s11-ls1", Condition("babble", 5))]
    items += [ItemSpec(f"p{p:g}-{len(picks) + i:03d}-{cond.label.replace(' ', '')}", pv[v], cmd[c], p, cond,
                       rng.randrange(2**31)) for i, (p, c, v, cond) in enumerate(noisy)]
    return items


def _negatives(rng: random.Random, sentences_per_voice: int, voices: list[Voice],
               noise_stretches: list[tuple[str, float, float]]) -> list[NegativeSpec]:
    texts = negative_sentences(sentences_per_voice * len(voices), seed=rng.randrange(2**31))
    out: list[NegativeSpec] = []
    for i, voice in enumerate(voices):
        chunk = tuple(texts[i * sentences_per_voice : (i + 1) * sentences_per_voice])
        for j in range(0, len(chunk), 12):  # about a minute of talk per stretch
            out.append(NegativeSpec(f"neg-speech-{voice.id}-{j // 12}", "speech", voice=voice,
                                    sentences=chunk[j : j + 12], seed=rng.randrange(2**31)))
    for kind, seconds, level in noise_stretches:
        out.append(NegativeSpec(f"neg-{kind}-{len(out):03d}", kind, seconds=seconds, level_dbfs=level,
                                seed=rng.randrange(2**31)))
    return out


def _babble_talkers(rng: random.Random, voices: list[Voice], count: int) -> list[tuple[Voice, str]]:
    texts = negative_sentences(count, seed=rng.randrange(2**31))
    return [(voices[i % len(voices)], t) for i, t in enumerate(texts)]


def make_plan(slice_name: str) -> Plan:
    """The plan of a slice: ``ci`` (a few minutes to run), ``noise`` (the front end's conditions) or ``full``
    (a rate for every pause x condition)."""
    if slice_name not in SLICES:
        raise ValueError(f"slice must be one of {', '.join(SLICES)}, got {slice_name!r}")
    rng = random.Random(f"{SEED}-{slice_name}")
    if slice_name == "ci":
        items = _ci_items(rng)
        neg_voices = [v for v in _voices() if v.id in ("piper-s11-ls1", "espeak-en-us-150", "espeak-en-gb-130")]
        negatives = _negatives(rng, 10, neg_voices, [("pink", 15, -35), ("babble", 15, -30), ("silence", 10, 0)])
        talkers = _babble_talkers(rng, [v for v in _voices() if v.engine == "espeak"][:6], 24)
    elif slice_name == "noise":
        conditions = (CLEAN, *(Condition(n, s) for n in NOISES for s in (10, 5)))
        items = _full_items(rng, per_pause=16, pauses=(0.3, 1.0), conditions=conditions)
        negatives = _negatives(rng, 6, [v for v in _voices() if v.engine == "piper"][:4], [
            ("pink", 60, -35), ("pink", 60, -25), ("babble", 60, -30)])
        talkers = _babble_talkers(rng, [v for v in _voices() if v.engine == "espeak" or v.seed == 33], 72)
    else:
        items = _full_items(rng, per_pause=16)
        negatives = _negatives(rng, 26, _voices(), [
            ("pink", 60, -45), ("pink", 60, -35), ("pink", 60, -25),
            ("babble", 90, -35), ("babble", 90, -25), ("silence", 120, 0)])
        talkers = _babble_talkers(rng, [v for v in _voices() if v.engine == "espeak" or v.seed == 33], 72)
    return Plan(slice_name, tuple(items), tuple(negatives), tuple(talkers))
