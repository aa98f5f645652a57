"""Bad input through the real surfaces never silences, crashes or half-runs the daemon.

``panikid run`` as a subprocess with a private Mosquitto (Hermes on) and its web surface;
then the same surfaces in-process, where a test can put an event on the bus that no
surface could encode as it is.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from daemons import DaemonThread, SurfacesDaemon
from helpers import free_port
from mosquitto import Listener, Mosquitto

from panikid import config
from panikid.app.daemon import Daemon, RunOptions
from panikid.control.mqtt.surface import MqttSurface
from panikid.control.web.surface import WebSurface

SURROGATE_ASK = '{"command": "ask", "text": "hi \\ud800 there"}'  # the escape, as JSON text carries it


def _errors(events: list[dict[str, Any]], source: str) -> list[str]:
    return [e["message"] for e in events if e["type"] == "error" and e.get("source") == source]


def test_bad_text_and_numbers_are_refused_and_every_surface_keeps_delivering(broker: Mosquitto, tmp_path: Path,
                                                                            long_silence: Path) -> None:
    daemon = SurfacesDaemon(tmp_path, long_silence, broker.port)
    base = daemon.base
    sub = Listener(broker.port, [f"{base}/#", "hermes/#"])
    try:
        daemon.wait_event(lambda e: e["type"] == "ready")
        sub.wait_for(f"{base}/availability", lambda p: p == b"online")

        async def websocket() -> tuple[dict[str, Any], list[dict[str, Any]]]:
            async with aiohttp.ClientSession() as http, http.ws_connect(f"{daemon.url}/ws") as ws:
                assert (await ws.receive_json())["type"] == "snapshot"
                await ws.send_str(SURROGATE_ASK[:-1] + ', "id": "s1"}')
                seen = []
                async with asyncio.timeout(60):
                    while not seen or seen[-1]["type"] != "ack":
                        seen.append(await ws.receive_json())
                return seen[-1], seen

        ack, _ = asyncio.run(websocket())
        assert ack["ok"] is False and ack["id"] == "s1"
        assert ack["error"].startswith("ask.text: the text contains a lone surrogate (U+D800 at position 3)")

        bad = [  # topic, payload, what the error names
            ("ask", SURROGATE_ASK, "lone surrogate"),
            ("say", '{"command": "say", "text": "hi \\ud800", "volume": 40}', "lone surrogate"),
            ("say", "clear \x9b2J", "control character (U+009B"),
            ("ask", "what\x7f", "control character (U+007F"),
            ("ask", "line\x85feed", "control character (U+0085"),
            ("volume/set", "1_0", "expected a number"),
            ("volume/set", "\uff14\uff10", "expected a number"),
            ("volume/set", "\u0664\u0660", "expected a number"),
            ("volume/set", "[" * 5000, "at most 4096"),
            ("volume/set", "{" + '"a":[' * 20 + "1" + "]" * 20 + "}", "nests deeper than 8 levels"),
        ]
        for topic, payload, _ in bad:
            sub.publish(f"{base}/{topic}", payload)
        sub.publish("hermes/tts/say", json.dumps({"text": "hi \ud800 there"}))  # ensure_ascii: the escape
        sub.publish("hermes/tts/say", '{"text": ' + "[" * 2000 + "]" * 2000 + "}")
        daemon.wait_event(lambda e: len(_errors(daemon.events, "hermes")) >= 2)
        daemon.wait_event(lambda e: len(_errors(daemon.events, "mqtt")) >= len(bad))
        mqtt_errors = _errors(daemon.events, "mqtt")
        for (topic, _, words), message in zip(bad, mqtt_errors, strict=True):
            assert words in message, (topic, message)
        hermes_errors = _errors(daemon.events, "hermes")
        assert "say.text: the text contains a lone surrogate" in hermes_errors[0]
        assert "nests deeper than 8 levels" in hermes_errors[1]
        # "-0" is a number, and it is 0.
        sub.publish(f"{base}/volume/set", "-0")
        assert daemon.wait_event(lambda e: e["type"] == "volume")["volume"] == 0
        assert sub.wait_for(f"{base}/volume/state", lambda p: p == b"0")[0] == b"0"

        # Nothing took effect: no transcript, no speech, no other volume.
        n = len(daemon.events)
        assert [e for e in daemon.events if e["type"] in ("transcript", "audio_started", "reply")] == []
        assert [e["volume"] for e in daemon.events if e["type"] == "volume"] == [0]
        # Every surface still delivers: a valid say is spoken and evented everywhere.
        sub.publish(f"{base}/say", "Still here.")
        turn = daemon.wait_event(lambda e: e["type"] == "turn", after=n)
        assert daemon.wait_event(lambda e: e["type"] == "audio_started", after=n)["turn"] == turn["turn"]
        sub.wait_for(f"{base}/event", lambda p: json.loads(p)["type"] == "turn")

        async def new_client() -> dict[str, Any]:
            async with aiohttp.ClientSession() as http, http.ws_connect(f"{daemon.url}/ws") as ws:
                snap = await ws.receive_json()
                await ws.send_json({"command": "say", "text": "Once more."})
                async with asyncio.timeout(60):
                    while (await ws.receive_json())["type"] != "turn":
                        pass
                return snap

        assert asyncio.run(new_client())["type"] == "snapshot"
    finally:
        sub.close()
        code = daemon.stop()
    assert code == 0, daemon.stderr[-3000:]
    assert "Traceback" not in daemon.stderr and "RecursionError" not in daemon.stderr


def test_an_event_no_encoder_could_take_still_reaches_every_surface(broker: Mosquitto, components: Any,
                                                                   long_silence: Path) -> None:
    """Should a lone surrogate ever get onto the bus, it is escaped, not raised."""
    port = free_port()
    cfg = config.replace(config.Config(), general={"device_id": "enc"}, web={"port": port},
                         mqtt={"enabled": True, "host": "127.0.0.1", "port": broker.port})
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True)
    run = DaemonThread(Daemon(cfg, RunOptions(str(long_silence), None, pace="realtime", events_out=out), components,
                              [MqttSurface(cfg, environ={}), WebSurface(cfg, environ={})]))
    sub = Listener(broker.port, ["panikid/enc/#"])
    try:
        run.wait_event("ready")
        sub.wait_for("panikid/enc/availability", lambda p: p == b"online")

        async def go() -> list[dict[str, Any]]:
            async with aiohttp.ClientSession() as http, http.ws_connect(f"http://127.0.0.1:{port}/ws") as ws:
                await ws.receive_json()
                run.call(lambda: run.daemon.bus.publish("transcript", turn=99, text="odd \ud800 text"))
                run.call(lambda: run.daemon.bus.publish("error", where="test", message="after it"))
                got = []
                async with asyncio.timeout(60):
                    while not got or got[-1].get("message") != "after it":
                        got.append(await ws.receive_json())
                return got

        got = asyncio.run(go())
        assert [e["text"] for e in got if e["type"] == "transcript"] == ["odd \ud800 text"]
        async def metrics() -> str:
            async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/metrics") as r:
                return await r.text()

        text = asyncio.run(metrics())
        counted = [line for line in text.splitlines() if line.startswith("panikid_unencodable_total ")]
        assert len(counted) == 1 and int(counted[0].split()[1]) >= 1, counted  # escaped, and counted
        payload, _ = sub.wait_for("panikid/enc/event", lambda p: json.loads(p)["type"] == "transcript")
        assert payload == b'{"event_type": "transcript", "type": "transcript", "t": ' + payload.split(b'"t": ')[1]
        assert json.loads(payload)["text"] == "odd \ud800 text" and b"\\ud800" in payload
        sub.wait_for("panikid/enc/event", lambda p: json.loads(p).get("message") == "after it")
    finally:
        sub.close()
        run.stop()
    lines = [json.loads(line) for line in out.buffer.getvalue().decode("utf-8").splitlines()]  # type: ignore[attr-defined]
    assert [e["text"] for e in lines if e["type"] == "transcript"] == ["odd \ud800 text"]
    assert lines[-1]["type"] in ("state", "error", "audio_stopped") and run.code == 0


def test_deep_json_on_hermes_is_an_error_event_not_a_traceback(broker: Mosquitto, components: Any,
                                                                long_silence: Path,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    cfg = config.replace(config.Config(), general={"device_id": "deep"}, web={"enabled": False},
                         mqtt={"enabled": True, "host": "127.0.0.1", "port": broker.port, "hermes": True})
    run = DaemonThread(Daemon(cfg, RunOptions(str(long_silence), None, pace="realtime"), components,
                              [MqttSurface(cfg, environ={})]))
    sub = Listener(broker.port, ["panikid/deep/#"])
    caplog.set_level(logging.INFO)
    try:
        run.wait_event("ready")
        sub.wait_for("panikid/deep/availability", lambda p: p == b"online")
        for topic in ("hermes/tts/say", "hermes/hotword/toggleOff", "hermes/hotword/toggleOn"):
            sub.publish(topic, "[" * 2040 + "]" * 2040)
        for _ in range(3):
            sub.wait_for("panikid/deep/event", lambda p: sum(
                json.loads(m)["type"] == "error" for t, m, _ in sub.messages if t.endswith("/event")) >= 3)
        errors = [e for e in run.daemon.bus.of_type("error") if e.data.get("source") == "hermes"]
        assert len(errors) == 3 and all("nests deeper than 8 levels" in e.data["message"] for e in errors)
        assert "mute" not in run.types() and "unmute" not in run.types()
    finally:
        sub.close()
        run.stop()
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records if r.exc_info]
