"""The headless first run: on a machine without a sound card, ``scripts/run`` starts the daemon for the
browser, prints the address to open, and a program (or the page) can talk to it at once."""

from __future__ import annotations

import asyncio
import json
import subprocess
import threading
import time
from pathlib import Path

import aiohttp
import pytest
from daemons import REPO, clean_env
from helpers import free_port


def _no_sound_card(tmp_path: Path) -> dict[str, str]:
    empty = tmp_path / "empty-alsa.conf"
    empty.write_text("")
    # No PulseAudio to reach, and an ALSA configuration without any device: PortAudio finds nothing.
    return {"ALSA_CONFIG_PATH": str(empty), "PULSE_SERVER": "unix:/nonexistent", "HOME": str(tmp_path)}


@pytest.mark.slow
def test_scripts_run_without_a_sound_card_serves_the_browser_and_prints_the_address(tmp_path: Path) -> None:
    port = free_port()
    env = clean_env({**_no_sound_card(tmp_path), "PANIKID_WEB_PORT": str(port)})
    proc = subprocess.Popen(["bash", str(REPO / "scripts/run"), "--events", "-"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stderr: list[str] = []
    events: list[dict] = []
    threading.Thread(target=lambda: stderr.extend(iter(proc.stderr.readline, "")), daemon=True).start()  # type: ignore[union-attr]
    threading.Thread(target=lambda: events.extend(json.loads(x) for x in iter(proc.stdout.readline, "")  # type: ignore[union-attr]
                                                  if x.startswith("{")), daemon=True).start()
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not any(e["type"] == "ready" for e in events):
            assert proc.poll() is None, "".join(stderr)
            time.sleep(0.2)
        ready = next(e for e in events if e["type"] == "ready")
        assert ready["input"] == ready["output"] == "remote sessions only"
        text = "".join(stderr)
        assert "no microphone here" in text
        assert f"open http://127.0.0.1:{port}/ and press Talk" in text

        async def talk() -> bytes:
            got = bytearray()
            async with aiohttp.ClientSession() as http, http.ws_connect(f"ws://127.0.0.1:{port}/audio") as ws:
                assert (await ws.receive_json(timeout=10))["type"] == "session"
                await ws.send_str(json.dumps({"command": "say", "text": "Hello from a box without speakers.",
                                              "id": "h1"}))
                start = time.monotonic()
                while time.monotonic() - start < 60 and len(got) < 16000 * 2:
                    await ws.send_bytes(bytes(640))  # the session's microphone: silence, in real time
                    try:
                        msg = await ws.receive(timeout=0.02)
                    except TimeoutError:
                        continue
                    if msg.type == aiohttp.WSMsgType.BINARY:
                        got.extend(msg.data)
                    elif msg.type == aiohttp.WSMsgType.TEXT:
                        reply = json.loads(msg.data)
                        if reply.get("type") == "ack":
                            assert reply["ok"] is True and reply["id"] == "h1", reply
            return bytes(got)

        audio = asyncio.run(talk())
        assert len(audio) >= 16000 * 2, "less than a second of the spoken text reached the session"
    finally:
        proc.terminate()
        proc.wait(30)


def test_run_audio_remote_refuses_files_and_a_disabled_web_surface(tmp_path: Path) -> None:
    from daemons import run_cli

    res = run_cli("run", "--audio", "remote", "--input", "x.wav")
    assert res.code == 2 and "--audio remote cannot be combined with --input/--output" in res.stderr
    res = run_cli("run", "--audio", "remote", env={"PANIKID_WEB_ENABLED": "false"})
    assert res.code == 2 and "remote audio needs the web surface" in res.stderr
    res = run_cli("run", env={**_no_sound_card(tmp_path)})
    assert res.code == 1 and "panikid run --audio remote" in res.stderr  # local is the default: a clear error
