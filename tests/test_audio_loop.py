"""The voice loop through the real PortAudio path: a private PulseAudio microphone and speaker.

The daemon runs as a user runs it (``panikid run``, no --input), the utterance
is played into the virtual microphone, and what the virtual speaker played is
recorded and transcribed.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from daemons import REPO, run_cli
from helpers import similarity
from pulse import PulseServer, pulse_server

pytestmark = pytest.mark.audio


@pytest.fixture(scope="module")
def pulse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PulseServer]:
    with pulse_server(tmp_path_factory.mktemp("pulse")) as server:
        yield server


class DaemonProcess:
    def __init__(self, env: dict[str, str], *args: str) -> None:
        full = {k: v for k, v in os.environ.items() if not k.startswith("PANIKID_")}
        full.update(env)
        full["HF_HUB_OFFLINE"] = "1"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "panikid", "run", "--events", "-", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full, cwd=REPO,
        )
        self.events: list[dict] = []
        self._q: queue.Queue[dict] = queue.Queue()
        self.stderr = ""
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("{"):
                e = json.loads(line)
                self.events.append(e)
                self._q.put(e)

    def _read_err(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr += line

    def wait_for(self, type_: str, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.proc.poll() is not None and self._q.empty():
                raise AssertionError(f"no {type_!r} event within {timeout}s; events: "
                                     f"{[e['type'] for e in self.events]}; stderr: {self.stderr[-2000:]}")
            try:
                e = self._q.get(timeout=min(remaining, 0.5))
            except queue.Empty:
                continue
            if e["type"] == type_:
                return e

    def terminate(self, timeout: float = 10.0) -> tuple[int, float]:
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=timeout)
        return code, time.monotonic() - started


def test_voice_loop_through_portaudio(pulse: PulseServer, wake_and_command: Path, components) -> None:
    daemon = DaemonProcess(pulse.env)
    try:
        ready = daemon.wait_for("ready", timeout=120)
        assert ready["input"] == "microphone" and ready["output"] == "speaker"
        pulse.start_recording()
        pulse.play(wake_and_command)
        assert daemon.wait_for("wake", timeout=30)["model"] == "okay_nabu"
        transcript = daemon.wait_for("transcript", timeout=60)["text"]
        reply = daemon.wait_for("reply", timeout=60)["text"]
        daemon.wait_for("audio_stopped", timeout=120)
        turn = daemon.wait_for("turn", timeout=10)
        time.sleep(0.3)  # the last few ms leave the sink
        heard_pcm = pulse.stop_recording()
        code, took = daemon.terminate()
    finally:
        if daemon.proc.poll() is None:
            daemon.proc.kill()
    assert "what time is it" in transcript.lower()
    assert turn["eos_to_first_audio_ms"] > 0
    assert code == 0, daemon.stderr[-2000:]
    samples = np.frombuffer(heard_pcm, dtype=np.int16)
    assert np.abs(samples).max() > 1000, "nothing reached the speaker"
    heard = components.stt.transcribe_recording(heard_pcm)
    assert similarity(reply, heard) >= 0.6, (reply, heard)


def test_unknown_device_name_is_a_clear_error(pulse: PulseServer) -> None:
    res = run_cli("run", env={**pulse.env, "PANIKID_AUDIO_INPUT_DEVICE": "no-such-mic"})
    assert res.code == 1, res.stderr
    assert "no-such-mic" in res.stderr and "Traceback" not in res.stderr
    assert "vmic" in res.stderr  # the devices that do exist are listed


def test_devices_lists_the_virtual_devices(pulse: PulseServer) -> None:
    res = run_cli("devices", env=pulse.env)
    assert res.code == 0, res.stderr
    assert "vmic" in res.stdout and "vspk" in res.stdout


@pytest.mark.skipif(Path("/proc/asound").exists(), reason="this machine has a sound card")
def test_no_sound_card_points_at_input() -> None:
    env = {"PULSE_SERVER": "unix:/nonexistent/native"}
    res = run_cli("run", env=env)
    assert res.code == 1
    assert "--input" in res.stderr and "Traceback" not in res.stderr


def test_daemon_exits_non_zero_when_the_microphone_dies(tmp_path: Path) -> None:
    """A live input that stops delivering audio ends the daemon with status 1 (systemd restarts it)."""
    with pulse_server(tmp_path / "pulse") as server:
        daemon = DaemonProcess(server.env)
        try:
            daemon.wait_for("ready", timeout=120)
            assert server.proc is not None
            server.proc.kill()  # the sound server vanishes under the daemon
            server.proc.wait(timeout=10)
            code = daemon.proc.wait(timeout=60)
        finally:
            if daemon.proc.poll() is None:
                daemon.proc.kill()
    assert code == 1, daemon.stderr[-2000:]
    time.sleep(0.2)  # the reader thread drains the last lines
    errors = [e for e in daemon.events if e["type"] == "error"]
    assert any(e.get("where") == "input" for e in errors), errors
