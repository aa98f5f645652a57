"""Send the payloads of :mod:`fuzzing` to a running daemon and check what came back on every surface.

The daemon is ``panikid run`` in its own process (:class:`daemons.SurfacesDaemon`):
MQTT payloads go through the broker, WebSocket ones through one client (which
reads its acks), while a second client only watches the events and a third
connects and never reads. Payloads go out in batches; each batch waits for its
answers, so no queue on the way overflows and every error can be matched, in
order, with the payload that caused it.
"""

from __future__ import annotations

import asyncio
import json
import random
import socket
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import paho.mqtt.client as mqtt
from daemons import SurfacesDaemon
from fuzzing import Payload, payloads
from mosquitto import Listener
from paho.mqtt.enums import CallbackAPIVersion

from panikid.devtools import fixtures

QUESTION = "What is the capital of France?"
EFFECTS = {"volume", "mute", "unmute", "listen", "wake_sensitivity", "llm_backend", "intent", "timer_finished"}


def input_wav(dir: Path, speech_dir: Path, lead_seconds: float, seed: int) -> Path:
    """Room noise for ``lead_seconds`` (the fuzz), then the wake word and a question, then more noise."""
    noise = fixtures.room_noise(lead_seconds + 60.0, seed=seed)
    lead = int(lead_seconds * fixtures.SAMPLE_RATE)
    wake = fixtures.read_pcm(fixtures.cached_speech(fixtures.WAKE_PHRASE, speech_dir))
    question = fixtures.read_pcm(fixtures.cached_speech(QUESTION, speech_dir))
    return fixtures.compose(dir / "fuzz-input.wav", [noise[:lead], wake, 0.4, question, noise[lead:]])


@dataclass
class Report:
    sent: Counter[str] = field(default_factory=Counter)
    mismatches: list[str] = field(default_factory=list)
    seconds: float = 0.0
    effects: list[dict[str, Any]] = field(default_factory=list)
    errors_in_file: int = 0
    errors_on_mqtt: int = 0
    errors_on_websocket: int = 0

    @property
    def total(self) -> int:
        return sum(self.sent.values())


def _frame(payload: bytes, masked: bool) -> bytes:
    n = len(payload)
    head = bytes([0x81]) + (bytes([0x80 * masked | n]) if n < 126 else bytes([0x80 * masked | 126]) +
                            n.to_bytes(2, "big"))
    if not masked:
        return head + payload
    key = bytes(random.getrandbits(8) for _ in range(4))
    return head + key + bytes(c ^ key[i % 4] for i, c in enumerate(payload))


def close_code(port: int, p: Payload) -> str:
    """Send one frame the protocol refuses on a fresh connection; the close code the server answers."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
        s.sendall(_frame(p.data, masked=p.topic != "unmasked"))
        data = b""
        while b"\r\n\r\n" not in data:
            data += s.recv(65536)
        data = data.split(b"\r\n\r\n", 1)[1]
        while True:  # the server's frames: the snapshot and events, then its close frame
            while len(data) >= 2:
                n, at = data[1] & 0x7F, 2
                if n >= 126:
                    n, at = int.from_bytes(data[2:4] if n == 126 else data[2:10], "big"), 4 if n == 126 else 10
                if len(data) < at + n:
                    break
                if data[0] & 0x0F == 8:
                    return str(int.from_bytes(data[at:at + 2], "big")) if n >= 2 else "no code"
                data = data[at + n:]
            chunk = s.recv(65536)
            if not chunk:
                return "closed without a close frame"
            data += chunk


class Fuzz:
    def __init__(self, daemon: SurfacesDaemon, broker_port: int, seed: int, batch: int = 100) -> None:
        self.daemon, self.seed, self.batch = daemon, seed, batch
        self.base = daemon.base
        self.port = daemon.web_port
        self.publisher = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        self.publisher.connect("127.0.0.1", broker_port)
        self.publisher.loop_start()
        self.watcher = Listener(broker_port, [f"{self.base}/event"])
        self.acks: list[dict[str, Any]] = []
        self.observed: list[dict[str, Any]] = []

    def close(self) -> None:
        self.publisher.disconnect()
        self.publisher.loop_stop()
        self.watcher.close()

    def _command_errors(self, source: tuple[str, ...]) -> list[dict[str, Any]]:
        return [e for e in self.daemon.events if e["type"] == "error" and e.get("where") == "commands"
                and e.get("source") in source]

    async def run(self, n: int) -> Report:
        report = Report()
        items = payloads(random.Random(self.seed), n)
        url = f"http://127.0.0.1:{self.port}/ws"
        stalled = socket.create_connection(("127.0.0.1", self.port))  # connects, never reads
        stalled.sendall(f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nUpgrade: websocket\r\n"
                        "Connection: Upgrade\r\nSec-WebSocket-Key: c3RhbGxlZCByZWFkZXIhIQ==\r\n"
                        "Sec-WebSocket-Version: 13\r\n\r\n".encode())
        before = len(self.daemon.events)
        started = time.monotonic()
        try:
            async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws, \
                    http.ws_connect(url) as observer:
                readers = [asyncio.create_task(self._read(ws, self.acks, "ack")),
                           asyncio.create_task(self._read(observer, self.observed))]
                for i in range(0, n, self.batch):
                    await self._send_batch(items[i:i + self.batch], ws, report)
                report.seconds = time.monotonic() - started
                await self._settle(report)
                for r in readers:
                    r.cancel()
        finally:
            stalled.close()
        self._check(items, report, before)
        return report

    async def _read(self, ws: aiohttp.ClientWebSocketResponse, into: list[dict[str, Any]],
                    only: str | None = None) -> None:
        async for msg in ws:
            m = json.loads(msg.data)
            if only is None or m.get("type") == only:
                into.append(m)

    async def _send_batch(self, batch: list[Payload], ws: aiohttp.ClientWebSocketResponse, report: Report) -> None:
        infos = []
        for p in batch:
            report.sent[p.surface] += 1
            if p.surface in ("mqtt", "hermes"):
                topic = p.topic if p.surface == "hermes" else f"{self.base}/{p.topic}"
                infos.append(self.publisher.publish(topic, p.data, qos=1))
            elif p.surface == "ws":
                await (ws.send_bytes(p.data) if p.topic == "binary" else ws.send_str(p.data.decode("utf-8")))
            else:
                code = await asyncio.to_thread(close_code, self.port, p)
                if code != p.expect:
                    report.mismatches.append(f"ws-close {p.topic}: closed with {code}, expected {p.expect}")
        for info in infos:
            await asyncio.to_thread(info.wait_for_publish, 30)
        async with asyncio.timeout(120):  # a deadline against hangs: the answers come in milliseconds
            while not self._caught_up(report):  # noqa: ASYNC110 (the answers are in another process's file)
                await asyncio.sleep(0.02)

    def _caught_up(self, report: Report) -> bool:
        mqtt_errors = len(self._command_errors(("mqtt", "hermes")))
        return mqtt_errors >= report.sent["mqtt"] + report.sent["hermes"] and len(self.acks) >= report.sent["ws"]

    async def _settle(self, report: Report) -> None:
        """Wait (bounded) until the MQTT event topic and the watching client have every error."""
        total = report.sent["mqtt"] + report.sent["hermes"] + report.sent["ws"]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            on_mqtt = [e for e in self.watcher.events(f"{self.base}/event")
                       if e["type"] == "error" and e.get("where") == "commands"]
            on_ws = [e for e in self.observed if e["type"] == "error" and e.get("where") == "commands"]
            report.errors_on_mqtt, report.errors_on_websocket = len(on_mqtt), len(on_ws)
            if len(on_mqtt) >= total and len(on_ws) >= total:
                return
            await asyncio.sleep(0.1)

    def _check(self, items: list[Payload], report: Report, before: int) -> None:
        over_mqtt = [p for p in items if p.surface in ("mqtt", "hermes")]
        for i, (p, e) in enumerate(zip(over_mqtt, self._command_errors(("mqtt", "hermes")), strict=False)):
            if e["source"] != p.surface or p.expect not in e["message"]:
                report.mismatches.append(f"seed {self.seed}, {p.surface} #{i} on {p.topic} {p.data[:120]!r}: "
                                         f"got {e['message'][:200]!r}, expected {p.expect!r}")
        over_ws = [p for p in items if p.surface == "ws"]
        for i, (p, ack) in enumerate(zip(over_ws, self.acks, strict=False)):
            if ack.get("type") != "ack" or ack.get("ok") is not False or p.expect not in ack.get("error", ""):
                report.mismatches.append(f"seed {self.seed}, ws #{i} {p.data[:120]!r}: got {ack}, expected "
                                         f"{p.expect!r}")
        events = self.daemon.events[before:]
        report.errors_in_file = len([e for e in events if e["type"] == "error" and e.get("where") == "commands"])
        report.effects = [e for e in events if e["type"] in EFFECTS or (
            e["type"] == "transcript" and e.get("source") == "command")]

    async def aftermath(self, sub: Listener, voice_timeout: float = 180.0) -> dict[str, Any]:
        """After the fuzz: does a valid command work on every surface, is the voice turn answered,
        was the client that never read dropped? The facts, for a test to assert and a script to print."""
        d, facts = self.daemon, dict[str, Any]()
        n = len(d.events)
        sub.publish(f"{self.base}/say", "Still here.")
        said = await asyncio.to_thread(d.wait_event, lambda e: e["type"] == "turn", 120.0, n)
        facts["say_turn_in_events"] = said["turn"]
        turn_on_mqtt = await asyncio.to_thread(sub.wait_for, f"{self.base}/event", lambda p: (
            json.loads(p)["type"] == "turn" and json.loads(p)["turn"] == said["turn"]))
        facts["say_turn_on_mqtt"] = json.loads(turn_on_mqtt[0])["turn"]
        async with aiohttp.ClientSession() as http:
            async with http.ws_connect(f"http://127.0.0.1:{self.port}/ws") as ws:
                facts["new_client_first_message"] = (await ws.receive_json())["type"]
                await ws.send_json({"command": "ask", "text": "What time is it?", "id": 1})
                async with asyncio.timeout(120):
                    while (m := await ws.receive_json())["type"] != "turn":
                        pass
                facts["ask_over_websocket_backend"] = m["backend"]
            async with http.get(f"http://127.0.0.1:{self.port}/metrics") as r:
                metrics = await r.text()
        facts["ws_dropped_total"] = int(next(line.split()[1] for line in metrics.splitlines()
                                             if line.startswith("panikid_ws_dropped_total ")))
        heard = await asyncio.to_thread(d.wait_event, lambda e: e["type"] == "transcript"
                                        and e.get("source") != "command", voice_timeout)
        reply = await asyncio.to_thread(d.wait_event, lambda e: e["type"] == "reply" and e["turn"] == heard["turn"])
        await asyncio.to_thread(d.wait_event, lambda e: e["type"] == "turn" and e["turn"] == heard["turn"])
        facts.update(voice_transcript=heard["text"], voice_reply=reply["text"], voice_backend=reply["backend"])
        return facts
