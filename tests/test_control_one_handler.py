"""One command handler behind every surface: a command means the same thing on MQTT and the WebSocket.

The real daemon and models, a private Mosquitto and the real WebSocket server. The wake word sensitivity
moves the threshold around the configured one whichever surface sent it, in any order: each surface
used to keep its own copy of the base threshold, so MQTT ``high`` then WebSocket ``high`` lowered it twice.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from daemons import DaemonThread
from helpers import free_port
from mosquitto import Listener, Mosquitto

from panikid import config
from panikid.app.daemon import Daemon, RunOptions
from panikid.control.mqtt.surface import MqttSurface
from panikid.control.web.surface import WebSurface
from panikid.devtools import fixtures

DEV = "one-handler"
BASE = f"panikid/{DEV}"


def test_sensitivity_means_the_same_on_mqtt_and_the_websocket(tmp_path: Path, components: Any) -> None:
    broker = Mosquitto(tmp_path).start()
    port = free_port()
    cfg = config.replace(config.Config(), general={"device_id": DEV}, web={"port": port},
                         mqtt={"enabled": True, "host": "127.0.0.1", "port": broker.port})
    wav = fixtures.write_pcm(tmp_path / "silence.wav", fixtures.silence(300))
    mqtt, web = MqttSurface(cfg, environ={}), WebSurface(cfg, environ={})
    run = DaemonThread(Daemon(cfg, RunOptions(str(wav), None, pace="realtime"), components, [mqtt, web]))
    sub = Listener(broker.port, [f"{BASE}/#"])
    base = min(e.default_threshold for e in components.wake)  # wake.threshold = 0: the model's own cutoff
    high = round(base - 0.15, 3)
    thresholds: list[tuple[str, str, float]] = []  # (surface, level, the threshold its event reported)

    def changes(events: list[dict[str, Any]]) -> list[tuple[str, float]]:
        return [(e["level"], e["threshold"]) for e in events if e["type"] == "wake_sensitivity"]

    def over_mqtt(level: str) -> None:
        n = len(run.events)
        sub.publish(f"{BASE}/wake_sensitivity/set", level)
        deadline = time.monotonic() + 30
        while not (new := changes(run.events[n:])):
            assert time.monotonic() < deadline, "the MQTT command had no effect"
            time.sleep(0.02)
        assert new[0][0] == level
        sub.wait_for(f"{BASE}/wake_sensitivity/state", lambda p: p == level.encode())
        thresholds.append(("mqtt", level, new[0][1]))

    async def over_websocket(ws: aiohttp.ClientWebSocketResponse, level: str) -> None:
        await ws.send_str(json.dumps({"command": "wake_sensitivity", "level": level, "id": level}))
        # The command's event comes before its ack (events of earlier MQTT commands before that).
        events: list[dict[str, Any]] = []
        async with asyncio.timeout(30):
            while (m := json.loads((await ws.receive()).data))["type"] != "ack":
                if m["type"] == "wake_sensitivity":
                    events.append(m)
        assert m == {"type": "ack", "ok": True, "command": "wake_sensitivity", "id": level}
        assert events[-1]["level"] == level
        thresholds.append(("websocket", level, events[-1]["threshold"]))

    async def session() -> None:
        async with aiohttp.ClientSession() as http, http.ws_connect(f"http://127.0.0.1:{port}/ws") as ws:
            assert json.loads((await ws.receive()).data)["type"] == "snapshot"
            await asyncio.to_thread(over_mqtt, "high")
            await over_websocket(ws, "medium")
            await over_websocket(ws, "high")
            await asyncio.to_thread(over_mqtt, "medium")
            await asyncio.to_thread(over_mqtt, "high")
            await over_websocket(ws, "high")  # the same level twice moves nothing

    try:
        run.wait_event("ready")
        sub.wait_for(f"{BASE}/availability", lambda p: p == b"online")
        asyncio.run(session())
        running = run.daemon.wake.detector.threshold
        # Every surface saw the same changes, in order.
        on_bus = changes(run.events)
        deadline = time.monotonic() + 30
        while changes(sub.events(f"{BASE}/event")) != on_bus and time.monotonic() < deadline:
            time.sleep(0.02)
        assert changes(sub.events(f"{BASE}/event")) == on_bus == [(lv, t) for _, lv, t in thresholds]
    finally:
        sub.close()
        run.stop()
        broker.stop()
    assert thresholds == [
        ("mqtt", "high", pytest.approx(high)),
        ("websocket", "medium", pytest.approx(base)),
        ("websocket", "high", pytest.approx(high)),  # 0.15 below the configured threshold, not 0.30
        ("mqtt", "medium", pytest.approx(base)),
        ("mqtt", "high", pytest.approx(high)),
        ("websocket", "high", pytest.approx(high)),
    ]
    assert running == pytest.approx(high)  # what the wake word processor runs with
    assert mqtt.handler is web.handler is run.daemon.commands  # one handler behind both surfaces
    assert run.code == 0 and run.error is None
