"""Settings reach the processors as one UpdateSettingsFrame, and each processor applies its own keys.

A reload is planned (which changed keys apply live) and sent as one frame; commands send the same
frame. Nothing outside a processor writes its attributes (see test_control_no_processor_writes.py).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from panikid import config as config_mod
from panikid.app.assembly import LIVE_KEYS, LIVE_PROCESSORS, OWN_KEYS
from panikid.app.components import segmenter_for
from panikid.app.daemon import Daemon, RunOptions
from panikid.brains.processor import AssistantProcessor
from panikid.brains.router import Router
from panikid.config import Config
from panikid.pipeline.frames import (
    Frame,
    InputAudioFrame,
    LLMTextFrame,
    OutputAudioFrame,
    TranscriptionFrame,
    UpdateSettingsFrame,
    WakeWordFrame,
)
from panikid.pipeline.processor import FrameProcessor
from panikid.pipeline.runner import Pipeline
from panikid.pipeline.testing import run, run_frames
from panikid.service.reload import plan
from panikid.speech.turn.processor import TurnDetector
from panikid.speech.turn.vad import WebRtcVad
from panikid.speech.wake.engines import Score
from panikid.speech.wake.processor import WakeWordProcessor
from panikid.transports.base import OutputTransport

RUNTIME_ONLY = {"wake.sensitivity", "turn.end_of_turn", "llm.backend"}
"""Settings only a command sets (no configuration key)."""


class ScoreEngine:
    """A wake word engine that gives every block of audio the same score."""

    name = "fake"
    default_threshold = 0.8

    def __init__(self, score: float) -> None:
        self.score = score

    def process(self, pcm: bytes) -> list[Score]:
        return [Score("fake", len(pcm) // 2, self.score)]

    def reset(self) -> None:
        pass


class Brain:
    """A provider that says its name, and keeps the system prompts it was given."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.prompts: list[str] = []

    def stream(self, messages: list[dict[str, str]], cancel: threading.Event) -> Iterator[str]:
        self.prompts.append(messages[0]["content"])
        yield f"This is {self.name}."


class Speaker(OutputTransport):
    """An output that keeps what it played."""

    def __init__(self) -> None:
        super().__init__("speaker")
        self.played: list[bytes] = []

    async def write(self, pcm: bytes, sample_rate: int) -> None:
        self.played.append(pcm)


def _tone(amplitude: int = 10000, seconds: float = 0.1) -> bytes:
    t = np.arange(int(16000 * seconds)) / 16000
    return (amplitude * np.sin(2 * np.pi * 440 * t)).astype("<i2").tobytes()


def _processors(cfg: Config, brain: Any) -> tuple[WakeWordProcessor, TurnDetector, AssistantProcessor, Speaker]:
    return (WakeWordProcessor([ScoreEngine(0.0)], cfg.wake.threshold, cfg.wake.cooldown_seconds),
            TurnDetector(WebRtcVad(), segmenter_for(cfg, False), cfg.vad.pre_roll_seconds,
                         model_pause_seconds=cfg.turn.pause_seconds, model_threshold=cfg.turn.threshold),
            AssistantProcessor(brain, cfg.llm.system_prompt), Speaker())


def test_a_reload_is_one_frame_and_each_processor_applies_its_keys() -> None:
    old = Config()
    new = config_mod.replace(old, wake={"threshold": 0.7, "cooldown_seconds": 4.0},
                             vad={"speech_seconds": 0.2, "silence_seconds": 1.2, "max_seconds": 20.0,
                                  "no_speech_seconds": 3.0, "pre_roll_seconds": 0.5},
                             turn={"pause_seconds": 0.3, "threshold": 0.6},
                             llm={"system_prompt": "Answer like a pirate."}, audio={"volume": 0.5},
                             stt={"beam_size": 2})
    effective, applied, restart = plan(old, new, LIVE_KEYS)
    assert restart == ["stt.beam_size"] and effective.stt.beam_size == old.stt.beam_size
    brain = Brain("local")
    wake, turn, assistant, speaker = procs = _processors(old, brain)

    frame = UpdateSettingsFrame(applied)
    out = run(run_frames(list(procs), [frame, TranscriptionFrame(1, "What color is the sky?"),
                                       OutputAudioFrame(2, _tone(), 16000)]))

    assert out[0] is frame  # through every processor, first (a system frame overtakes data)
    assert [f.text for f in out if isinstance(f, LLMTextFrame)] == ["This is local."]
    # The wake word processor: threshold and cooldown.
    assert wake.threshold == 0.7 and wake.detector.cooldown_seconds == 4.0
    # The turn detector: every timing.
    seg = turn.segmenter
    assert (seg.speech_seconds, seg.silence_seconds, seg.max_seconds, seg.no_speech_seconds) == (0.2, 1.2, 20.0, 3.0)
    assert (turn.pre_roll, turn.model_pause, turn.model_threshold) == (0.5, 0.3, 0.6)
    # The assistant: the next turn's system prompt.
    assert brain.prompts[0].startswith("Answer like a pirate.")
    # The output: what it plays from then on.
    (played,) = speaker.played
    peak = np.abs(np.frombuffer(played, dtype="<i2")).max()
    assert 4900 <= peak <= 5000, peak


def test_the_wake_threshold_is_applied_to_detection() -> None:
    audio = InputAudioFrame(bytes(960), 0.0)
    # The model's own cutoff (0.8) does not take a 0.75 score; a reload to 0.7 does.
    assert run(run_frames(WakeWordProcessor([ScoreEngine(0.75)]), [audio], expect=["InputAudioFrame"]))
    out = run(run_frames(WakeWordProcessor([ScoreEngine(0.75)]),
                         [UpdateSettingsFrame({"wake.threshold": 0.7}), audio]))
    assert [type(f).__name__ for f in out] == ["UpdateSettingsFrame", "InputAudioFrame", "InterruptionFrame",
                                               "WakeWordFrame"]
    assert isinstance(out[-1], WakeWordFrame) and out[-1].score == 0.75


def test_sensitivity_moves_around_the_configured_threshold_whatever_changes_first() -> None:
    wake = WakeWordProcessor([ScoreEngine(0.0)])  # threshold 0: the model's cutoff, 0.8
    steps = [({"wake.sensitivity": "high"}, 0.65), ({"wake.sensitivity": "high"}, 0.65),
             ({"wake.threshold": 0.9}, 0.75),  # a reload keeps the level, around the new threshold
             ({"wake.sensitivity": "medium"}, 0.9), ({"wake.sensitivity": "low"}, 0.99),
             ({"wake.threshold": 0.0}, 0.9), ({"wake.sensitivity": "medium"}, 0.8)]
    for settings, threshold in steps:
        wake.queue_frame(UpdateSettingsFrame(settings))  # system frames apply as they are queued
        assert wake.threshold == pytest.approx(threshold), settings


def test_the_llm_backend_choice_picks_the_brain() -> None:
    def answers(*frames: Frame) -> list[str]:
        assistant = AssistantProcessor(Router(Brain("local"), Brain("cloud"), policy="local-first"), "Be brief.")
        out = run(run_frames(assistant, [*frames, TranscriptionFrame(1, "What color is the sky?")]))
        return [f.text for f in out if isinstance(f, LLMTextFrame)]

    assert answers() == ["This is local."]  # auto: the configured policy
    assert answers(UpdateSettingsFrame({"llm.backend": "cloud"})) == ["This is cloud."]
    assert answers(UpdateSettingsFrame({"llm.backend": "cloud"}), UpdateSettingsFrame({"llm.backend": "auto"})) \
        == ["This is local."]


def test_a_setting_that_cannot_apply_is_reported_and_the_frame_goes_on() -> None:
    from panikid.events import EventBus

    bus = EventBus()
    out = run(run_frames([WakeWordProcessor([ScoreEngine(0.0)]), Speaker()],
                         [UpdateSettingsFrame({"wake.sensitivity": "loud", "audio.volume": 0.3})], events=bus))
    assert [type(f).__name__ for f in out] == ["UpdateSettingsFrame"]
    (error,) = bus.of_type("error")
    assert error.data["where"] == "wake" and "wake.sensitivity" in error.data["message"]


def test_live_keys_are_what_the_processors_declare() -> None:
    declared = set().union(*(p.settings_keys for p in LIVE_PROCESSORS))
    assert LIVE_KEYS == OWN_KEYS | declared
    config_keys = {f"{s}.{k}" for s, values in config_mod.to_dict(Config()).items() for k in values}
    assert LIVE_KEYS - RUNTIME_ONLY <= config_keys, sorted(LIVE_KEYS - RUNTIME_ONLY - config_keys)
    # Every processor class in the package that applies settings is one of them.
    import panikid.transports.file
    import panikid.transports.local
    import panikid.transports.null  # noqa: F401

    def subclasses(cls: type) -> set[type]:
        return {c for s in cls.__subclasses__() for c in (s, *subclasses(s))}

    for cls in subclasses(FrameProcessor):
        if cls.__module__.startswith("panikid.") and cls.settings_keys:
            assert cls.settings_keys <= LIVE_KEYS, cls


class _Grab(FrameProcessor):
    """Keeps every frame queued to it (system frames handled as usual)."""

    def __init__(self) -> None:
        super().__init__("grab")
        self.got: list[Frame] = []

    def queue_frame(self, frame: Frame) -> None:
        self.got.append(frame)
        super().queue_frame(frame)


def test_the_daemon_reloads_with_one_frame_and_commands_send_the_same_frame(tmp_path: Path) -> None:
    toml = tmp_path / "panikid.toml"
    toml.write_text("[wake]\nthreshold = 0.7\n")
    daemon = Daemon(config_mod.load(str(toml), environ={}), RunOptions())
    grab = _Grab()
    daemon.pipeline = Pipeline([grab])  # stands in for the running pipeline
    toml.write_text('[wake]\nthreshold = 0.9\n[audio]\nvolume = 0.5\n[general]\nlog_level = "warning"\n'
                    "[stt]\nbeam_size = 2\n")
    root = logging.getLogger()
    level = root.level
    try:
        assert daemon.reload() is True
        assert root.level == logging.WARNING  # the daemon's own key
    finally:
        root.setLevel(level)
    assert grab.got == [UpdateSettingsFrame({"wake.threshold": 0.9, "audio.volume": 0.5})]  # one frame
    (reloaded,) = daemon.bus.of_type("config_reloaded")
    assert reloaded.data["restart_needed"] == ["stt.beam_size"]
    assert daemon.settings().volume == 0.5 and daemon.bus.of_type("volume")[-1].data["volume"] == 50.0

    daemon.set_volume(0.3)
    daemon.set_llm_backend("local")
    assert grab.got[1:] == [UpdateSettingsFrame({"audio.volume": 0.3}), UpdateSettingsFrame({"llm.backend": "local"})]
    assert (daemon.settings().volume, daemon.settings().llm_backend) == (0.3, "local")
    with pytest.raises(RuntimeError, match="not running"):
        daemon.set_wake_sensitivity("high")  # no wake word processor: refused, nothing changed
    assert daemon.settings().wake_sensitivity == "medium" and len(grab.got) == 3
