"""A new text-to-speech engine takes one module and one registration (CONTRIBUTING.md, "Add an engine").

The stand-in engine below is the whole engine: this file plays the part of panikid/speech/tts/<name>.py,
and ``register`` the part of its line in ENGINES. Nothing else in the package is touched, yet the daemon
speaks with it (``tts.engine = "tone"``): the reply in the output file is its tone, not piper's voice.
"""

from __future__ import annotations

import dataclasses
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from daemons import DaemonThread

from panikid import config
from panikid.app.components import load_tts
from panikid.app.daemon import Daemon, RunOptions
from panikid.devtools import fixtures
from panikid.speech.tts import engine as tts_engine

pytestmark = pytest.mark.slow
TONE_HZ = 660.0


class ToneEngine:
    """Says every sentence as a beep, 50 ms per character."""

    sample_rate = 16000

    def synthesize(self, text: str) -> Iterator[bytes]:
        t = np.arange(int(0.05 * len(text) * self.sample_rate)) / self.sample_rate
        yield (np.sin(2 * np.pi * TONE_HZ * t) * 8000).astype(np.int16).tobytes()

    def synthesize_all(self, text: str) -> bytes:
        return b"".join(self.synthesize(text))


def test_an_engine_registered_by_name_speaks_the_replies(components: Any, speech_dir: Path, tmp_path: Path) -> None:
    tts_engine.register("tone", lambda cfg: ToneEngine())
    cfg = config.replace(config.Config(), tts={"engine": "tone"}, web={"enabled": False},
                         cues={"wake": "none", "error": "none"})
    engine = load_tts(cfg)
    assert isinstance(engine, ToneEngine)
    wav = fixtures.utterance(speech_dir, "What time is it?", pause=0.5)
    out = tmp_path / "reply.wav"
    comps = dataclasses.replace(components, tts=engine, cues={})
    run = DaemonThread(Daemon(cfg, RunOptions(str(wav), str(out), pace="fast"), comps, []))
    run.wait_event("audio_stopped", timeout=120)
    run.stop()
    with wave.open(str(out), "rb") as w:
        rate = w.getframerate()
        audio = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float64)
    assert rate == ToneEngine.sample_rate and len(audio) > rate // 2
    spectrum = np.abs(np.fft.rfft(audio))
    assert abs(np.argmax(spectrum) * rate / len(audio) - TONE_HZ) < 5


def test_an_unknown_engine_is_a_clear_error() -> None:
    from panikid.app.components import ComponentError

    cfg = config.replace(config.Config(), tts={"engine": "nonesuch"})
    with pytest.raises(ComponentError, match=r"tts\.engine: got 'nonesuch', allowed: .*piper"):
        load_tts(cfg)
