"""The web surface against hostile clients: rebinding Host names, unmasked frames, readers that stall.

The real daemon (in-process, real models) and its real aiohttp server; clients are aiohttp's
and raw sockets speaking the WebSocket wire format.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from daemons import DaemonThread
from helpers import free_port

from panikid import config
from panikid.app.daemon import Daemon, RunOptions
from panikid.control.web.surface import WebSurface, host_allowed
from panikid.control.web.ws_frames import FrameScanner


def _start(components: Any, wav: Path, **web: Any) -> tuple[DaemonThread, WebSurface, int]:
    port = free_port()
    cfg = config.replace(config.Config(), web={"port": port, **web})
    surface = WebSurface(cfg, environ={})
    run = DaemonThread(Daemon(cfg, RunOptions(str(wav), None, pace="realtime"), components, [surface]))
    run.wait_event("ready")
    return run, surface, port


@pytest.fixture
def served(components: Any, long_silence: Path) -> Iterator[tuple[DaemonThread, WebSurface, int]]:
    run, surface, port = _start(components, long_silence, allowed_hosts=["pi.local"])
    try:
        yield run, surface, port
    finally:
        run.stop()


# ---------------------------------------------------------------- DNS rebinding

def test_host_names_the_server_answers_to() -> None:
    for header in ("127.0.0.1:8787", "localhost", "LOCALHOST:1", "[::1]:8787", "::1", "pi.local:80", "pi.local.",
                   "192.168.1.20:8787", "[fe80::1]"):
        assert host_allowed(header, "127.0.0.1", ["pi.local"]), header
    for header in ("evil.example", "evil.example:8787", "127.0.0.1.nip.io", "localhost.evil.example", "pi.local.evil",
                   "", "0x7f000001"):
        assert not host_allowed(header, "127.0.0.1", ["pi.local"]), header
    assert host_allowed(None, "127.0.0.1", [])  # no Host header: not a browser
    assert host_allowed("kitchen.lan:8787", "kitchen.lan", [])  # the configured host


def test_a_foreign_host_is_refused_before_anything_is_served(served: tuple[DaemonThread, WebSurface, int]) -> None:
    run, _, port = served
    url = f"http://127.0.0.1:{port}"

    async def go() -> None:
        async with aiohttp.ClientSession() as http:
            for path in ("/", "/healthz", "/metrics", "/ws", "/nothing-here"):
                async with http.get(url + path, headers={"Host": "evil.example"}) as r:
                    assert r.status == 421, path
                    assert "evil.example" in await r.text() and "web.allowed_hosts" in await r.text()
            with pytest.raises(aiohttp.WSServerHandshakeError) as info:
                await http.ws_connect(f"{url}/ws", headers={"Host": f"evil.example:{port}",
                                                            "Origin": f"http://evil.example:{port}"})
            assert info.value.status == 421
            # The names it does answer to: loopback (any port), web.allowed_hosts, an address.
            for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"pi.local:{port}", "192.168.7.7"):
                async with http.get(f"{url}/healthz", headers={"Host": host}) as r:
                    assert r.status == 200 and (await r.json())["state"] == "idle", host
            async with http.ws_connect(f"{url}/ws", headers={"Host": f"pi.local:{port}",
                                                             "Origin": f"http://pi.local:{port}"}) as ws:
                assert (await ws.receive_json())["type"] == "snapshot"
        assert not [e for e in run.daemon.bus.history if e.type in ("say", "volume", "mute")]

    asyncio.run(go())


# ---------------------------------------------------------------- frames on the wire

def _frame(payload: bytes, opcode: int = 1, masked: bool = True) -> bytes:
    head = bytes([0x80 | opcode])
    n = len(payload)
    bit = 0x80 if masked else 0
    head += bytes([bit | n]) if n < 126 else bytes([bit | 126]) + struct.pack(">H", n) if n < 65536 \
        else bytes([bit | 127]) + struct.pack(">Q", n)
    if not masked:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(c ^ key[i % 4] for i, c in enumerate(payload))


def _handshake(port: int, rcvbuf: int = 0) -> tuple[socket.socket, bytes]:
    s = socket.socket()
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    return s, (f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()


def _read_frames(s: socket.socket, until_close: bool, timeout: float = 30.0) -> list[tuple[int, bytes]]:
    """Server frames (opcode, payload) until a close frame (or, with ``until_close`` false, an ack)."""
    s.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        data += s.recv(65536)
    data = data.split(b"\r\n\r\n", 1)[1]
    frames: list[tuple[int, bytes]] = []
    while True:
        while len(data) >= 2:
            n, start = data[1] & 0x7F, 2
            if n == 126:
                n, start = struct.unpack(">H", data[2:4])[0], 4
            elif n == 127:
                n, start = struct.unpack(">Q", data[2:10])[0], 10
            if len(data) < start + n:
                break
            frames.append((data[0] & 0x0F, data[start:start + n]))
            data = data[start + n:]
            if frames[-1][0] == 8 or (not until_close and b'"ack"' in frames[-1][1]):
                return frames
        chunk = s.recv(65536)
        if not chunk:
            return frames
        data += chunk


def test_an_unmasked_client_frame_closes_the_connection_with_a_protocol_error(
        served: tuple[DaemonThread, WebSurface, int], caplog: pytest.LogCaptureFixture) -> None:
    run, _, port = served
    caplog.set_level(logging.INFO)
    for pipelined in (False, True):  # after the handshake, and sent along with it
        s, hello = _handshake(port)
        unmasked = _frame(b'{"command": "volume", "volume": 10}', masked=False)
        s.sendall(hello + unmasked if pipelined else hello)
        if not pipelined:
            time.sleep(0.3)
            s.sendall(unmasked)
        frames = _read_frames(s, until_close=True)
        assert frames[-1][0] == 8 and struct.unpack(">H", frames[-1][1][:2])[0] == 1002, frames
        assert s.recv(100) == b""  # and the connection is gone
        s.close()
    assert "volume" not in run.types()  # the unmasked command was not run
    # A masked frame cut into single bytes is read whole.
    s, hello = _handshake(port)
    s.sendall(hello)
    for byte in _frame(b'{"command": "volume", "volume": 250, "id": "split"}'):
        s.send(bytes([byte]))
    ack = [p for _, p in _read_frames(s, until_close=False) if b'"ack"' in p][-1]
    assert b'"id": "split"' in ack and b"from 0 to 100" in ack
    s.close()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], [r.getMessage() for r in caplog.records]
    assert run.thread.is_alive()


def test_the_frame_scanner_follows_headers_of_every_length() -> None:
    stream = b"".join(_frame(b"x" * n) for n in (0, 5, 125, 126, 300, 70000))
    for step in (1, 7, 4096, len(stream)):
        scan = FrameScanner()
        assert all(scan.feed(stream[i:i + step]) for i in range(0, len(stream), step)), step
    scan = FrameScanner()
    assert scan.feed(_frame(b"y" * 200)) and not scan.feed(_frame(b"z", masked=False))


# ---------------------------------------------------------------- a reader that stalls

def test_a_stalled_reader_with_ordinary_buffers_is_dropped_and_counted(components: Any, long_silence: Path) -> None:
    """No small receive buffer on the client: the server's own bound must notice it."""
    run, surface, port = _start(components, long_silence)
    stuck, hello = _handshake(port)
    stuck.sendall(hello)
    try:
        async def go() -> str:
            async with aiohttp.ClientSession() as http:
                async with asyncio.timeout(120):
                    while len(surface.clients) < 1:  # noqa: ASYNC110 (state of the daemon's thread)
                        await asyncio.sleep(0.05)
                sent = 0
                while not surface.dropped_clients and sent < 4_000_000:  # 4 MB of events at most
                    run.call(lambda: [run.daemon.bus.publish("noise", blob="x" * 2000) for _ in range(8)])
                    sent += 8 * 2000
                    await asyncio.sleep(0.002)
                async with http.get(f"http://127.0.0.1:{port}/metrics") as r:
                    return await r.text()

        metrics = asyncio.run(go())
        assert surface.dropped_clients == 1
        assert "panikid_ws_dropped_total 1" in metrics
        assert "# HELP panikid_ws_dropped_total WebSocket clients disconnected for falling behind." in metrics
    finally:
        stuck.close()
        run.stop()
