"""A spoken request nothing here can carry out: an honest answer, and an ``unhandled`` event on every surface."""

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

pytestmark = pytest.mark.slow
DEV = "unhandled-test"


def test_turn_on_the_kitchen_lights_is_answered_honestly_and_published(
        tmp_path: Path, speech_dir: Path, components: Any) -> None:
    broker = Mosquitto(tmp_path).start()
    port = free_port()
    cfg = config.replace(config.Config(), general={"device_id": DEV}, web={"port": port},
                         mqtt={"enabled": True, "host": "127.0.0.1", "port": broker.port})
    wake = fixtures.read_pcm(fixtures.cached_speech(fixtures.WAKE_PHRASE, speech_dir))
    request = fixtures.read_pcm(fixtures.cached_speech("Turn on the kitchen lights.", speech_dir))
    # Time for the WebSocket client to connect before the wake word.
    wav = fixtures.compose(tmp_path / "lights.wav", [6.0, wake, 1.0, request, 20.0])
    daemon = Daemon(cfg, RunOptions(str(wav), None, pace="realtime"), components,
                    [MqttSurface(cfg, environ={}), WebSurface(cfg, environ={})])
    run = DaemonThread(daemon)
    sub = Listener(broker.port, [f"panikid/{DEV}/event"])
    seen: list[dict[str, Any]] = []

    async def websocket() -> None:
        async with aiohttp.ClientSession() as http, http.ws_connect(f"http://127.0.0.1:{port}/ws") as ws:
            async with asyncio.timeout(90):
                async for msg in ws:
                    m = json.loads(msg.data)
                    seen.append(m)
                    if m["type"] == "audio_stopped":
                        return

    try:
        run.wait_event("ready")
        asyncio.run(websocket())
        sub.wait_for(f"panikid/{DEV}/event", lambda p: json.loads(p)["event_type"] == "unhandled")
        reply = run.wait_event("reply")
        time.sleep(0.2)
    finally:
        sub.close()
        run.stop()
        broker.stop()
    (mqtt_event,) = [e for e in sub.events(f"panikid/{DEV}/event") if e["event_type"] == "unhandled"]
    assert "kitchen lights" in mqtt_event["text"].lower() and mqtt_event["what"] == "kitchen lights"
    assert any(m["type"] == "unhandled" and m["what"] == "kitchen lights" for m in seen), seen
    assert reply["text"] == "Sorry, I can't control the kitchen lights myself."
    assert reply["backend"] == "intent"
