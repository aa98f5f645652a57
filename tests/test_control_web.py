"""The HTTP/WebSocket surface, served by the real daemon, driven by aiohttp's client."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from daemons import DaemonThread
from helpers import free_port

from panikid import config
from panikid.app.daemon import Daemon, RunOptions
from panikid.control.web.surface import WebConfigError, WebSurface


def _start(components: Any, wav: Path, environ: dict[str, str] | None = None,
           **web: Any) -> tuple[DaemonThread, WebSurface, str]:
    port = free_port()
    cfg = config.replace(config.Config(), web={"port": port, **web})
    surface = WebSurface(cfg, environ=environ or {})
    run = DaemonThread(Daemon(cfg, RunOptions(str(wav), None, pace="realtime"), components, [surface]))
    run.wait_event("ready")
    return run, surface, f"http://127.0.0.1:{port}"


@pytest.fixture
def served(components: Any, long_silence: Path) -> Iterator[tuple[DaemonThread, WebSurface, str]]:
    run, surface, url = _start(components, long_silence)
    try:
        yield run, surface, url
    finally:
        run.stop()


async def _until(ws: aiohttp.ClientWebSocketResponse, pred: Any, seen: list[dict[str, Any]]) -> dict[str, Any]:
    async with asyncio.timeout(120):
        while True:
            msg = await ws.receive()
            assert msg.type == aiohttp.WSMsgType.TEXT, msg
            m = json.loads(msg.data)
            seen.append(m)
            if pred(m):
                return m


def test_health_page_metrics_and_a_turn_over_the_websocket(served: tuple[DaemonThread, WebSurface, str]) -> None:
    run, _, url = served

    async def go() -> None:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{url}/healthz") as r:
                health = await r.json()
            assert health["ok"] is True and health["state"] == "idle" and health["uptime"] >= 0
            async with http.get(f"{url}/") as r:
                page = await r.text()
            assert r.status == 200 and "<title>panikid</title>" in page and "new WebSocket" in page
            seen: list[dict[str, Any]] = []
            async with http.ws_connect(f"{url}/ws") as ws:
                snap = await _until(ws, lambda m: True, seen)
                assert snap["type"] == "snapshot" and snap["state"] == "idle" and snap["turns"] == []
                await ws.send_str(json.dumps({"command": "say", "text": "Hello there.", "id": "a1"}))
                ack = await _until(ws, lambda m: m["type"] == "ack", seen)
                assert ack["ok"] is True and ack["command"] == "say" and ack["id"] == "a1" and ack["turn"] > 0
                await _until(ws, lambda m: m["type"] == "state" and m["state"] == "responding", seen)
                turn = await _until(ws, lambda m: m["type"] == "turn", seen)
                assert turn["interrupted"] is False
                assert "audio_started" in [m["type"] for m in seen]
                # Bad commands get an error ack and an error event; the connection stays up.
                await ws.send_str('{"command": "volume", "volume": 250}')
                bad = await _until(ws, lambda m: m["type"] == "ack", seen)
                assert bad["ok"] is False and "from 0 to 100" in bad["error"]
                ev = await _until(ws, lambda m: m["type"] == "error", seen) if not any(
                    m["type"] == "error" for m in seen) else next(m for m in seen if m["type"] == "error")
                assert ev["where"] == "commands"
                await ws.send_bytes(b"\x00\x01")
                assert "binary" in (await _until(ws, lambda m: m["type"] == "ack", seen))["error"]
                await ws.send_str("not json at all")
                assert "not valid JSON" in (await _until(ws, lambda m: m["type"] == "ack", seen))["error"]
                await ws.send_str(json.dumps({"command": "mute", "muted": True}))
                await _until(ws, lambda m: m["type"] == "state" and m["state"] == "muted", seen)
            async with http.ws_connect(f"{url}/ws") as ws:  # a new client sees where things are
                snap = await _until(ws, lambda m: True, [])
                assert snap["state"] == "muted" and snap["muted"] is True and len(snap["turns"]) == 1
            async with http.get(f"{url}/metrics") as r:
                metrics = await r.text()
            assert "panikid_turns_total 1" in metrics, metrics
            promtool = shutil.which("promtool")
            assert promtool, "promtool (Debian's prometheus package) is missing: scripts/setup --test installs it"
            lint = await asyncio.to_thread(subprocess.run, [promtool, "check", "metrics"], input=metrics,
                                           capture_output=True, text=True, timeout=30)
            assert lint.returncode == 0 and not lint.stdout.strip(), lint.stdout + lint.stderr  # no complaint
            assert "panikid_tts_first_audio_seconds_count 1" in metrics  # the said text's synthesis
            # A said text has no end of speech, so no end-of-speech latency.
            assert "panikid_turn_latency_seconds_count 0" in metrics
            assert 'panikid_errors_total{where="commands"} 3' in metrics
            # A message over the size limit closes the connection (1009), the daemon carries on.
            async with http.ws_connect(f"{url}/ws") as ws:
                await ws.send_str(json.dumps({"command": "say", "text": "x" * 9000}))
                async with asyncio.timeout(30):
                    while (await ws.receive()).type == aiohttp.WSMsgType.TEXT:
                        pass
                assert ws.close_code == 1009
            async with http.get(f"{url}/healthz") as r:
                assert (await r.json())["state"] == "muted"

    asyncio.run(go())
    assert run.thread.is_alive()


def test_foreign_origin_is_refused(served: tuple[DaemonThread, WebSurface, str]) -> None:
    _, _, url = served

    async def go() -> None:
        async with aiohttp.ClientSession() as http:
            with pytest.raises(aiohttp.WSServerHandshakeError) as info:
                await http.ws_connect(f"{url}/ws", headers={"Origin": "http://evil.example"})
            assert info.value.status == 403
            host = url.removeprefix("http://")
            async with http.ws_connect(f"{url}/ws", headers={"Origin": f"http://{host}"}) as ws:
                assert json.loads((await ws.receive()).data)["type"] == "snapshot"

    asyncio.run(go())


def test_token_is_required_when_set(components: Any, long_silence: Path) -> None:
    run, _, url = _start(components, long_silence, environ={"PANIKID_WEB_TOKEN": "letmein"})
    try:
        async def go() -> None:
            async with aiohttp.ClientSession() as http:
                with pytest.raises(aiohttp.WSServerHandshakeError) as info:
                    await http.ws_connect(f"{url}/ws")
                assert info.value.status == 401
                with pytest.raises(aiohttp.WSServerHandshakeError):
                    await http.ws_connect(f"{url}/ws?token=wrong")
                async with http.ws_connect(f"{url}/ws?token=letmein") as ws:
                    assert json.loads((await ws.receive()).data)["type"] == "snapshot"
                async with http.get(f"{url}/metrics") as r:
                    assert r.status == 401
                async with http.get(f"{url}/metrics", headers={"Authorization": "Bearer letmein"}) as r:
                    assert r.status == 200 and "panikid_up 1" in await r.text()
        asyncio.run(go())
    finally:
        run.stop()


def test_refuses_to_listen_beyond_loopback_without_a_token(components: Any, long_silence: Path) -> None:
    cfg = config.replace(config.Config(), web={"host": "0.0.0.0", "port": free_port()})
    with pytest.raises(WebConfigError, match="no token is set"):
        asyncio.run(WebSurface(cfg, environ={}).start(Daemon(cfg, RunOptions(str(long_silence)), components)))
    # Run by the daemon: an error event, and the voice loop still runs.
    run = DaemonThread(Daemon(cfg, RunOptions(str(long_silence)), components, [WebSurface(cfg, environ={})]))
    try:
        err = run.wait_event("error")
        assert "beyond loopback" in err["message"] and "PANIKID_WEB_TOKEN" in err["message"]
        run.wait_event("ready")
    finally:
        run.stop()


def _raw_ws_that_never_reads(port: int) -> socket.socket:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
    return s


def test_a_client_that_never_reads_is_dropped_and_the_turn_completes(components: Any, long_silence: Path) -> None:
    run, surface, url = _start(components, long_silence, client_queue=64)
    port = int(url.rsplit(":", 1)[1])
    stuck = _raw_ws_that_never_reads(port)
    try:
        async def go() -> list[dict[str, Any]]:
            seen: list[dict[str, Any]] = []
            async with aiohttp.ClientSession() as http, http.ws_connect(f"{url}/ws") as ws:
                turned = asyncio.Event()

                async def read() -> None:
                    async for msg in ws:
                        seen.append(json.loads(msg.data))
                        if seen[-1]["type"] == "turn":
                            turned.set()
                reader = asyncio.create_task(read())
                async with asyncio.timeout(120):
                    while len(surface.clients) < 2:  # noqa: ASYNC110 (state of the daemon's thread)
                        await asyncio.sleep(0.05)
                    # Events flow (2 kB each, in small bursts) until the stuck client is dropped.
                    def burst() -> None:
                        for _ in range(8):
                            run.daemon.bus.publish("noise", blob="x" * 2000)
                    while not surface.dropped_clients:
                        run.call(burst)
                        await asyncio.sleep(0.005)
                    # A turn still completes, and the reading client sees it.
                    await ws.send_str(json.dumps({"command": "say", "text": "Hello there."}))
                    await turned.wait()
                reader.cancel()
            return seen

        seen = asyncio.run(go())
        assert surface.dropped_clients == 1
        assert [m for m in seen if m["type"] == "turn"][0]["interrupted"] is False
        assert sum(m["type"] == "noise" for m in seen) > 64  # the reading client got the flood
    finally:
        stuck.close()
        run.stop()



def test_status_counts_turns_into_histograms_in_seconds() -> None:
    from panikid.control.web.status import Status
    from panikid.events import Event

    st = Status(started=0.0)
    st.on_event(Event("turn", 1.0, {"turn": 1, "eos_to_first_audio_ms": 400.0, "backend": "local",
                                    "stt_ms": 80.0, "llm_ttft_ms": 40.0, "tts_ttfb_ms": 120.0}))
    st.on_event(Event("turn", 1.0, {"turn": 2, "eos_to_first_audio_ms": 900.0, "speech_end_to_first_audio_ms": 1200.0,
                                    "backend": "local"}))
    st.on_event(Event("turn", 1.0, {"turn": 3, "eos_to_first_audio_ms": 7000.0, "backend": "cloud"}))
    st.on_event(Event("wake", 1.0, {"model": "okay_nabu"}))
    st.on_event(Event("error", 1.0, {"where": 'a"b', "message": "m"}))
    st.on_event(Event("state", 1.0, {"state": "listening"}))
    text = st.prometheus(now=10.0)
    # From the end of speech where it is known (turn 2: 1.2 s, not the 0.9 s after the decision).
    assert 'panikid_turn_latency_seconds_bucket{le="0.5"} 1' in text
    assert 'panikid_turn_latency_seconds_bucket{le="1"} 1' in text
    assert 'panikid_turn_latency_seconds_bucket{le="1.5"} 2' in text
    assert 'panikid_turn_latency_seconds_bucket{le="+Inf"} 3' in text and "panikid_turn_latency_seconds_sum 8.6" in text
    assert 'panikid_stt_seconds_bucket{le="0.1"} 1' in text and "panikid_stt_seconds_count 1" in text
    assert "panikid_llm_first_token_seconds_sum 0.04" in text and "panikid_tts_first_audio_seconds_count 1" in text
    assert 'panikid_state{state="listening"} 1' in text and 'panikid_state{state="idle"} 0' in text
    assert 'panikid_build_info{version="' in text
    assert 'panikid_backend_turns_total{backend="cloud"} 1' in text and "panikid_wake_total 1" in text
    assert 'panikid_errors_total{where="a\\"b"} 1' in text
    rss = next(line for line in text.splitlines() if line.startswith("process_resident_memory_bytes "))
    assert int(rss.split()[1]) > 10_000_000  # this test process's own memory
    assert "_ms" not in text  # base units only
    snap = st.snapshot(now=10.0)
    assert snap["uptime"] == 10.0 and snap["last_turn_latency_ms"] == 7000.0 and len(snap["turns"]) == 3
