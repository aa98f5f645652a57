"""Echo through the real audio path: the daemon's speaker comes back into its microphone through a room
(``tests/room.py``: PulseAudio monitor -> delay, reverberation -> microphone sink), and the daemon says its
own wake word. With the echo canceller (the default) it does not wake itself; without it, it does, which
shows the room is loud enough for the test to mean something."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import numpy as np
import pytest
from daemons import DaemonProcess
from helpers import free_port
from pulse import pulse_server

pytestmark = pytest.mark.audio

ROOM = Path(__file__).resolve().parent / "room.py"
SELF_TALK = ("Okay nah-boo. That is my name, and I say it to test myself. Okay nah-boo. "
             "If you hear me twice, okay nah-boo, something is wrong.")


async def _say(port: int, text: str) -> None:
    async with aiohttp.ClientSession() as http, http.ws_connect(f"http://127.0.0.1:{port}/ws") as ws:
        await ws.send_str(json.dumps({"command": "say", "text": text}))
        async with asyncio.timeout(10):
            async for msg in ws:  # the command was taken once its turn started
                if json.loads(msg.data).get("type") in ("tts_started", "error"):
                    return


@pytest.mark.parametrize("cancel", [True, False], ids=["aec", "no-aec"])
def test_its_own_voice_through_the_room_does_not_wake_it(tmp_path: Path, cancel: bool) -> None:
    port = free_port()
    with pulse_server(tmp_path / "pulse") as server:
        room = subprocess.Popen([sys.executable, str(ROOM), str(tmp_path), "0.06", "0"], env=server.env,
                                stderr=subprocess.PIPE)
        daemon = DaemonProcess(env={**server.env, "PANIKID_WEB_PORT": str(port),
                                    "PANIKID_FRONTEND_ECHO_CANCELLATION": "true" if cancel else "false"})
        try:
            ready = daemon.wait_event("ready", timeout=120)
            time.sleep(3.0)  # the canceller hears the room's silence first, as after any start
            asyncio.run(_say(port, SELF_TALK))
            started = daemon.wait_event("audio_started", timeout=60, after=ready)
            stopped = daemon.wait_event("audio_stopped", timeout=120, after=started)
            time.sleep(1.0)  # the room's tail
            events = daemon.events[daemon.events.index(started):]
            code = daemon.stop(timeout=10)
        finally:
            if daemon.proc.poll() is None:
                daemon.proc.kill()
            room.terminate()
            room.wait(10)
    echo = np.frombuffer((tmp_path / "echo.raw").read_bytes(), dtype="<i2").astype(np.float64)
    assert np.sqrt(np.mean(echo**2)) > 300, "the room returned no echo"  # it did reach the microphone
    wakes = [e for e in events if e["type"] == "wake"]
    print(f"echo rms {np.sqrt(np.mean(echo**2)):.0f}, wakes {len(wakes)}, interrupted {stopped['interrupted']}")
    assert code == 0, daemon.stderr[-2000:]
    if cancel:
        assert "echo cancellation (AEC3)" in daemon.stderr
        assert stopped["echo_reduction_db"] > 10, stopped  # the front end measured the echo it took out
        assert wakes == [] and not stopped["interrupted"], wakes
        assert not [e for e in events if e["type"] == "speech_started"]
    else:
        assert "echo_reduction_db" not in stopped
        assert wakes, "without the canceller its own 'okay nabu' should wake it: the test's room is too quiet"
