"""Shared fixtures: generated test speech, loaded default models, the CLI as a subprocess."""

from __future__ import annotations

from pathlib import Path

import pytest

from panikid.devtools import fixtures


@pytest.fixture(scope="session")
def speech_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("speech")


@pytest.fixture(scope="session")
def wake_and_command(speech_dir: Path) -> Path:
    """"Okay nah-boo." (pause) "What time is it?" with silence around."""
    return fixtures.utterance(speech_dir, "What time is it?", pause=0.4, name="wake_pause_command.wav")


@pytest.fixture(scope="session")
def wake_no_pause(speech_dir: Path) -> Path:
    """"Okay nah-boo what time is it" in one breath."""
    return fixtures.utterance(speech_dir, "what time is it", pause=0.0, name="wake_no_pause.wav")


@pytest.fixture(scope="session")
def no_wake_speech(speech_dir: Path) -> Path:
    """Ordinary speech, no wake word."""
    return fixtures.utterance(
        speech_dir, "I think we should buy more bread and some apples tomorrow.", wake=False,
        name="no_wake.wav",
    )


@pytest.fixture(scope="session")
def components():
    """The default models, loaded once per test session."""
    from panikid.app.components import load_all
    from panikid.config import Config

    return load_all(Config())


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may reach a model hub."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
