"""Shared fixtures: generated test speech and audio, the default models loaded once, no model hub, a private broker.

The audio is made by ``panikid.devtools.fixtures`` (speech with piper, silence, room
noise) and ``panikid.audio.convert`` (tones); panikid itself runs through ``daemons.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from mosquitto import Mosquitto

from panikid.audio.convert import float_to_pcm16, sine
from panikid.audio.wav import write_wav
from panikid.devtools import fixtures


@pytest.fixture(scope="session")
def speech_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("speech")


@pytest.fixture(scope="session")
def wake_and_command(speech_dir: Path) -> Path:
    """"Okay nah-boo." (pause) "What time is it?" with silence around."""
    return fixtures.utterance(speech_dir, "What time is it?", pause=0.4, name="wake_pause_command.wav")


@pytest.fixture(scope="session")
def wake_and_fixed_reply(speech_dir: Path) -> Path:
    """"Okay nah-boo." (pause) "What can you do?": its reply is fixed text with no numbers in it, so a test
    that hears the reply back never depends on how speech-to-text writes the time of day."""
    return fixtures.utterance(speech_dir, "What can you do?", pause=0.6, name="wake_pause_fixed_reply.wav")


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
def long_silence(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Ten minutes of silence: an input that outlasts any test of a running daemon."""
    return fixtures.write_pcm(tmp_path_factory.mktemp("silence") / "silence.wav", fixtures.silence(600))


@pytest.fixture(scope="session")
def long_noise(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Five minutes of quiet room noise (no speech, no wake word): audio keeps flowing, nothing is heard."""
    return fixtures.write_pcm(tmp_path_factory.mktemp("noise") / "noise.wav", fixtures.room_noise(300.0))


@pytest.fixture(scope="session")
def tone_wav() -> Callable[..., bytes]:
    """Writes a sine tone as a mono WAV, with ``lead``/``tail`` seconds of silence around it;
    returns the tone's 16-bit PCM (without the silences)::

        pcm = tone_wav(tmp_path / "in.wav", seconds=1.0, freq=440.0)
    """

    def write(path: Path, seconds: float, freq: float = 440.0, rate: int = 16000, lead: float = 0.0,
              tail: float = 0.0) -> bytes:
        tone = float_to_pcm16(sine(freq, seconds, rate))
        write_wav(path, bytes(int(lead * rate) * 2) + tone + bytes(int(tail * rate) * 2), rate)
        return tone

    return write


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


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    """A private Mosquitto broker for one test."""
    b = Mosquitto(tmp_path).start()
    try:
        yield b
    finally:
        b.stop()
