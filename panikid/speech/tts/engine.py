"""What a text-to-speech engine is, and which engines there are (``tts.engine``).

An engine has a ``sample_rate`` and turns a sentence into mono s16le audio at that rate, blocking (the
TTS processor calls it in its worker thread). ``ENGINES`` names each built-in engine's loader as
"module:function"; the loader takes the configuration and returns the engine, so an engine's imports
(and its models) are only loaded when it is chosen. ``register`` adds one at run time.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from typing import Protocol

from ...config import Config


class TtsEngine(Protocol):
    sample_rate: int

    def synthesize(self, text: str) -> Iterator[bytes]:
        """Yield s16le mono audio chunks at ``sample_rate`` (blocking)."""
        ...

    def synthesize_all(self, text: str) -> bytes: ...


Loader = Callable[[Config], TtsEngine]

ENGINES: dict[str, str | Loader] = {
    "piper": "panikid.speech.tts.piper:load",
    "wyoming": "panikid.speech.tts.wyoming:load",
}


class TtsEngineError(ValueError):
    """``tts.engine`` names no engine; the message lists the ones there are."""


def engine_name(engine: TtsEngine) -> str:
    """What the events call an engine: its ``name`` ("piper", "wyoming"), else its class's name."""
    return str(getattr(engine, "name", "") or type(engine).__name__)


def speak(engine: TtsEngine, text: str) -> tuple[bytes, str]:
    """A sentence's audio and the engine that spoke it: an engine with a fallback (``speak``) says which
    one did (blocking)."""
    spoken = getattr(engine, "speak", None)
    if spoken is not None:
        pcm, name = spoken(text)
        return pcm, name
    return engine.synthesize_all(text), engine_name(engine)


def register(name: str, loader: Loader) -> None:
    """Make ``tts.engine = name`` load the engine ``loader(cfg)`` returns."""
    ENGINES[name] = loader


def load(cfg: Config) -> TtsEngine:
    entry = ENGINES.get(cfg.tts.engine)
    if entry is None:
        raise TtsEngineError(f"tts.engine: got {cfg.tts.engine!r}, allowed: {', '.join(sorted(ENGINES))}")
    if isinstance(entry, str):
        module, _, function = entry.partition(":")
        entry = getattr(importlib.import_module(module), function)
    return entry(cfg)
