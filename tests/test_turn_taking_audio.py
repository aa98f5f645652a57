"""Turn taking through the real audio path, in a "room": the microphone hears the speaker.

A private PulseAudio server has one sink, ``vroom``: what the user says is
played into it, the daemon plays its chime and replies into it, and captures
its monitor. So the microphone hears the chime and the reply exactly as they
were played, the way a speaker next to a microphone does. The echo canceller
(on by default with the local microphone and speaker) takes the chime out, so the
turn detector does not hide it (its cue mask is for a microphone without one):
the first turn after the start, before the canceller heard anything else, shows
that the chime's echo still never starts the command.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from daemons import DaemonProcess
from helpers import similarity
from pulse import ExtraSink, PulseServer, pulse_server

from panikid.audio import cues
from panikid.devtools import fixtures

pytestmark = [pytest.mark.audio, pytest.mark.slow]

ROOM_PCMS = 'pcm.room_in { type pulse; device "vroom.monitor" }\npcm.room_out { type pulse; device "vroom" }\n'


@pytest.fixture(scope="module")
def room(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PulseServer]:
    with pulse_server(tmp_path_factory.mktemp("room"), extra_sinks=[ExtraSink("vroom", 16000, 1)],
                      extra_alsa=ROOM_PCMS) as server:
        yield server


def room_env(server: PulseServer) -> dict[str, str]:
    return {**server.env, "PANIKID_AUDIO_INPUT_DEVICE": "room_in", "PANIKID_AUDIO_OUTPUT_DEVICE": "room_out"}


@pytest.mark.parametrize(("pause", "seed"), [(1.5, 7), (0.4, 8), (0.9, 9)])
def test_a_pause_after_the_wake_word_through_the_microphone_with_the_chime_heard(
        room: PulseServer, speech_dir: Path, tmp_path: Path, pause: float, seed: int) -> None:
    wake = fixtures.read_pcm(fixtures.cached_speech(fixtures.WAKE_PHRASE, speech_dir, seed=seed))
    command = fixtures.read_pcm(fixtures.cached_speech("What time is it?", speech_dir, seed=seed))
    wav = fixtures.compose(tmp_path / "room.wav", [0.5, wake, pause, command, 0.5])
    daemon = DaemonProcess(env=room_env(room))
    try:
        ready = daemon.wait_event("ready", timeout=120)
        room.start_recording(device="vroom.monitor")
        room.play(wav, device="vroom")
        wake = daemon.wait_event("wake", timeout=30, after=ready)
        cue = daemon.wait_event("cue", timeout=10, after=wake)
        transcript = daemon.wait_event("transcript", timeout=60, after=cue)
        stopped = daemon.wait_event("audio_stopped", timeout=60, after=transcript)
        turn = daemon.wait_event("turn", timeout=10, after=stopped)
        time.sleep(0.3)
        heard = np.frombuffer(room.stop_recording(), dtype=np.int16)
        code = daemon.stop(timeout=10)
    finally:
        if daemon.proc.poll() is None:
            daemon.proc.kill()
    assert code == 0, daemon.stderr[-2000:]
    assert cue["name"] == "chime"
    assert "echo cancellation (AEC3)" in daemon.stderr
    # The microphone heard the chime before the command, and only the command was transcribed.
    assert similarity(transcript["text"], "What time is it?") >= 0.8, transcript
    assert not [e for e in daemon.events if e["type"] == "turn_abandoned"]
    assert turn["speech_end_to_first_audio_ms"] > 0
    # The chime is in the room, between the wake word and the command: found by its own waveform.
    rate = fixtures.SAMPLE_RATE
    chime = np.frombuffer(cues.generate("chime", rate, 0.3), dtype=np.int16).astype(np.float64)
    x = heard.astype(np.float64)
    corr = np.correlate(x, chime, mode="valid")
    energy = np.sqrt(np.convolve(x**2, np.ones(len(chime)), mode="valid")) * np.sqrt((chime**2).sum())
    score = corr / np.maximum(energy, 1e-9)
    at = int(np.argmax(score)) / rate
    assert score.max() > 0.8, score.max()  # the chime as played (the volume scales it, not its shape)
    wake_end = 0.5 + len(wake) / rate
    assert wake_end - 0.3 < at < wake_end + 1.0, (at, wake_end)  # played at the wake word, heard by the mic
