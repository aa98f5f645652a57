"""The wake word and the end-of-turn sensitivity as settings (Home Assistant selects), on real audio.

The wake word: which names a device offers (pure), and a swap that makes the real microWakeWord engines
hear "hey jarvis" and no longer "okay nabu". The end-of-turn level: the silence it sets (pure), and a
sentence with a pause in it that ``default`` cuts at the pause and ``relaxed`` keeps whole.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from panikid import config as config_mod
from panikid.audio import SAMPLE_RATE
from panikid.config import Config
from panikid.devtools import fixtures
from panikid.events import EventBus
from panikid.pipeline.frames import (
    InputAudioFrame,
    ListenFrame,
    UpdateSettingsFrame,
    UtteranceFrame,
    WakeModelsFrame,
    WakeWordFrame,
)
from panikid.pipeline.testing import run_frames
from panikid.speech.turn.patience import LEVELS, silence_for
from panikid.speech.turn.processor import TurnDetector
from panikid.speech.turn.segmenter import EndOfTurnSegmenter
from panikid.speech.turn.vad import WebRtcVad
from panikid.speech.wake import choices
from panikid.speech.wake.engines import load_engines
from panikid.speech.wake.processor import WakeWordProcessor


def _frames(pcm: np.ndarray) -> list[InputAudioFrame]:
    raw = pcm.astype(np.int16).tobytes()
    return [InputAudioFrame(raw[i : i + 960], i / 2 / SAMPLE_RATE) for i in range(0, len(raw), 960)]


def _gap(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * SAMPLE_RATE), np.int16)


# ------------------------------------------------------------------ end of turn

def test_each_level_scales_the_configured_silence_and_none_goes_under_the_floor() -> None:
    assert list(LEVELS) == ["relaxed", "default", "aggressive"]
    assert [silence_for(level, 0.6) for level in LEVELS] == [0.9, 0.6, 0.36]
    assert silence_for("aggressive", 0.25) == 0.2  # a breath between words does not end a turn
    assert silence_for("relaxed", 1.6) == 2.4  # with an end-of-turn model: its longest pause
    with pytest.raises(ValueError, match="end_of_turn: got 'slow', allowed: relaxed, default, aggressive"):
        silence_for("slow", 0.6)


def _utterances(level: str | None, pcm: np.ndarray) -> list[UtteranceFrame]:
    det = TurnDetector(WebRtcVad(2), EndOfTurnSegmenter(silence_seconds=0.6))
    frames: list = [ListenFrame(), *_frames(pcm)]
    if level is not None:
        frames.insert(0, UpdateSettingsFrame({"turn.end_of_turn": level}))
    out = asyncio.run(run_frames(det, frames, EventBus()))
    assert det.end_of_turn == (level or "default")
    return [f for f in out if isinstance(f, UtteranceFrame)]


def test_relaxed_waits_out_a_pause_that_default_ends_the_turn_on(speech_dir: Path) -> None:
    first = fixtures.read_pcm(fixtures.cached_speech("Set a timer for", speech_dir))
    second = fixtures.read_pcm(fixtures.cached_speech("ten minutes.", speech_dir))
    pcm = np.concatenate([_gap(0.25), first, _gap(0.75), second, _gap(2.5)])
    spoken = (len(first) + len(second)) / SAMPLE_RATE

    (cut,) = _utterances(None, pcm)  # 0.6 s of silence ends it in the 0.75 s pause
    assert len(cut.pcm) / 2 / SAMPLE_RATE < len(first) / SAMPLE_RATE + 0.75
    (whole,) = _utterances("relaxed", pcm)  # 0.9 s: the pause is waited out
    assert len(whole.pcm) / 2 / SAMPLE_RATE > spoken + 0.5
    (quick,) = _utterances("aggressive", pcm)
    assert len(quick.pcm) <= len(cut.pcm)


def test_an_unknown_level_is_refused_and_the_old_one_stays() -> None:
    det = TurnDetector(WebRtcVad(2), EndOfTurnSegmenter(silence_seconds=0.6))
    det.apply_settings({"turn.end_of_turn": "relaxed"})
    with pytest.raises(ValueError, match="allowed: relaxed, default, aggressive"):
        det.apply_settings({"turn.end_of_turn": "sleepy", "vad.silence_seconds": 1.0})
    assert (det.end_of_turn, det.configured_silence, det.segmenter.silence_seconds) == ("relaxed", 0.6, 0.9)
    det.apply_settings({"vad.silence_seconds": 1.0})  # a reload keeps the level, on the new silence
    assert det.segmenter.silence_seconds == 1.5


# ------------------------------------------------------------------ wake word

def test_the_choices_start_with_the_configured_set_and_leave_out_stop_words() -> None:
    offered = choices.choices(["okay_nabu", "/opt/words/hey_pi.json"], ["stop"],
                              bundled=["okay_nabu", "hey_jarvis", "stop"], custom=["hey_pi", "kitchen"])
    assert offered == {"okay_nabu, hey_pi": ["okay_nabu", "/opt/words/hey_pi.json"],
                       "okay_nabu": ["okay_nabu"], "hey_pi": ["/opt/words/hey_pi.json"],
                       "kitchen": ["kitchen"], "hey_jarvis": ["hey_jarvis"]}
    assert list(choices.choices(["alexa"], [], ["okay_nabu", "alexa"], [])) == ["alexa", "okay_nabu"]
    assert choices.shown_name("hf:someone/words/hey_pi.tflite") == "hey_pi"


def test_a_configuration_offers_its_engines_models_and_its_custom_directory(tmp_path: Path) -> None:
    (tmp_path / "hey_pi.json").write_text("{}")
    (tmp_path / "hey_pi.tflite").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("not a model")
    cfg = config_mod.replace(Config(), wake={"custom_models_dir": str(tmp_path)})
    offered = list(choices.for_config(cfg))
    assert offered[0] == "okay_nabu" and "hey_pi" in offered and "hey_jarvis" in offered
    assert "notes" not in offered and len(offered) == len(set(offered))
    open_cfg = config_mod.replace(Config(), wake={"engine": "open", "models": ["hey_jarvis"]})
    from panikid import models

    shipped = {e.name for e in models.load_manifest() if e.role == "wake" and e.engine == "open"}
    assert set(choices.for_config(open_cfg)) == shipped  # the engine's own models, not microWakeWord's


def _wakes(proc: WakeWordProcessor, pcm: np.ndarray, swap: list[str] | None = None) -> list[str]:
    frames: list = _frames(pcm)
    if swap is not None:
        frames.insert(0, WakeModelsFrame(tuple(load_engines("micro", swap))))
    out = asyncio.run(run_frames(proc, frames, EventBus()))
    return [f.model for f in out if isinstance(f, WakeWordFrame)]


def test_a_swapped_wake_word_is_heard_and_the_old_one_no_longer(speech_dir: Path) -> None:
    jarvis = fixtures.read_pcm(fixtures.cached_speech("Hey Jarvis.", speech_dir))
    nabu = fixtures.read_pcm(fixtures.cached_speech(fixtures.WAKE_PHRASE, speech_dir))
    both = np.concatenate([_gap(1.0), jarvis, _gap(2.5), nabu, _gap(1.5)])
    proc = WakeWordProcessor(load_engines("micro", ["okay_nabu"]), cooldown_seconds=2.0)
    assert _wakes(proc, both) == ["okay_nabu"]
    assert proc.threshold == pytest.approx(0.85)  # okay_nabu's own cutoff
    assert _wakes(proc, both, swap=["hey_jarvis"]) == ["hey_jarvis"]
    assert [e.name for e in proc.engines] == ["hey_jarvis"]
    assert proc.threshold == pytest.approx(0.97)  # the new model's cutoff: none is configured
