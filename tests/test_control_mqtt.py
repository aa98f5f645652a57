"""The MQTT surface against a private Mosquitto, with the real daemon and models."""

from __future__ import annotations

import json
import re
import signal
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from daemons import DaemonThread
from mosquitto import Listener, Mosquitto

from panikid import config
from panikid.app.daemon import Daemon, RunOptions
from panikid.audio.wav import read_wav
from panikid.control.mqtt.discovery import discovery_payload
from panikid.control.mqtt.surface import MqttSurface
from panikid.control.mqtt.topics import Topics, backoff_delay, messages_for
from panikid.devtools import fixtures
from panikid.events import Event, schema
from panikid.speech.turn.processor import TurnDetector

DEV = "kitchen"
BASE = f"panikid/{DEV}"


# ---------------------------------------------------------------- pure parts

def test_backoff_grows_is_capped_and_jittered() -> None:
    assert [backoff_delay(a, cap=30, rand=lambda: 1.0) for a in range(8)] == [0.5, 1, 2, 4, 8, 16, 30, 30]
    assert [backoff_delay(a, cap=30, rand=lambda: 0.0) for a in range(3)] == [0.25, 0.5, 1]
    assert backoff_delay(1000, cap=30, rand=lambda: 0.5) == 22.5


def test_discovery_has_every_component_with_platform_and_unique_id() -> None:
    doc = discovery_payload(DEV, Topics("panikid", DEV), qos=1, wake_words=["okay_nabu", "hey_jarvis"])
    assert doc["device"]["identifiers"] == [f"panikid_{DEV}"] and doc["origin"]["name"] == "panikid"
    assert doc["availability_topic"] == f"{BASE}/availability"
    comps = doc["components"]
    platforms = {k: c["platform"] for k, c in comps.items()}
    assert platforms == {"state": "sensor", "last_transcript": "sensor", "last_reply": "sensor", "mute": "switch",
                         "listen": "button", "stop": "button", "say": "text", "ask": "text",
                         "announce": "notify", "backend": "sensor", "last_latency": "sensor",
                         "running_timers": "sensor", "volume": "number",
                         "wake_sensitivity": "select", "wake_word": "select", "end_of_turn": "select",
                         "llm_backend": "select", "event": "event"}
    assert comps["wake_word"]["options"] == ["okay_nabu", "hey_jarvis"]
    assert comps["end_of_turn"]["options"] == ["relaxed", "default", "aggressive"]
    assert comps["end_of_turn"]["command_topic"] == f"{BASE}/end_of_turn/set"
    assert comps["announce"]["command_topic"] == comps["say"]["command_topic"] == f"{BASE}/say"
    assert comps["ask"]["command_topic"] == f"{BASE}/ask"
    assert comps["last_latency"]["state_topic"] == f"{BASE}/state/attributes"
    ids = [c["unique_id"] for c in comps.values()]
    assert len(set(ids)) == len(ids)
    assert comps["state"]["device_class"] == "enum" and "muted" in comps["state"]["options"]
    assert comps["mute"]["command_topic"] == f"{BASE}/mute/set"
    assert comps["volume"]["min"] == 0 and comps["volume"]["max"] == 100
    assert "wake" in comps["event"]["event_types"]


def test_the_readme_entity_table_is_the_discovery_document() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### Entities"):readme.index("Every component carries QoS 1")]
    rows = re.findall(r"^\| `([a-z_]+)` \| `([a-z]+)\.panikid_kitchen_([a-z_]+)` \|", section, re.M)
    comps = discovery_payload("kitchen", Topics("panikid", "kitchen"), qos=1, wake_words=["okay_nabu"])["components"]
    assert [key for key, _, _ in rows] == list(comps)
    for key, platform, object_id in rows:  # Home Assistant names an entity after its device and its name
        assert platform == comps[key]["platform"], key
        assert object_id == re.sub(r"[^a-z0-9]+", "_", comps[key]["name"].lower()), key


def test_a_timer_set_and_rung_updates_the_running_timers_attribute() -> None:
    from panikid.control.web.status import Status

    t, status = Topics("panikid", DEV), Status()
    comps = discovery_payload(DEV, t, qos=1, wake_words=["okay_nabu"])["components"]
    assert comps["running_timers"]["value_template"] == "{{ value_json.running_timers }}"
    seen = []
    for e in (Event("intent", 1.0, {"turn": 1, "name": "timer_set", "seconds": 60.0, "timers": 1}),
              Event("intent", 2.0, {"turn": 2, "name": "timer_set", "seconds": 90.0, "timers": 2}),
              Event("timer_finished", 61.0, {"turn": 3, "timer": 1, "label": "1 minute", "text": "...",
                                             "timers": 1})):
        status.on_event(e)
        (attrs,) = [m for m in messages_for(e, t, status.attributes()) if m.topic == t.attributes]
        assert attrs.retain
        seen.append(json.loads(attrs.payload)["running_timers"])
    assert seen == [1, 2, 1]


def test_events_map_to_retained_state_and_unretained_events() -> None:
    t = Topics("panikid", DEV)
    state = messages_for(Event("state", 1.0, {"state": "muted"}), t, {})
    assert [(m.topic, m.payload, m.retain) for m in state][0] == (f"{BASE}/state", "muted", True)
    assert [(m.topic, json.loads(m.payload)["event_type"], m.retain) for m in state[1:]] == [
        (f"{BASE}/event", "state", False)]
    msgs = messages_for(Event("mute", 1.0), t, {})
    assert [(m.topic, m.payload, m.retain) for m in msgs][0] == (f"{BASE}/mute/state", "ON", True)
    ev = json.loads(msgs[1].payload)
    assert msgs[1].topic == f"{BASE}/event" and not msgs[1].retain and ev["event_type"] == "mute"
    msgs = messages_for(Event("reply", 2.0, {"text": "hi"}), t, {"last_reply": "hi"})
    assert msgs[0].topic == f"{BASE}/state/attributes" and json.loads(msgs[0].payload) == {"last_reply": "hi"}


def test_every_event_type_goes_to_the_event_topic() -> None:
    """A timer ringing, a reload, an intent: an automation can react to any event."""
    t = Topics("panikid", DEV)
    for type_ in schema.EVENTS:
        events = [m for m in messages_for(Event(type_, 1.0, {}), t, {}) if m.topic == f"{BASE}/event"]
        assert [json.loads(m.payload)["event_type"] for m in events] == [type_], type_
        assert not events[0].retain and events[0].kind == "event"


# ---------------------------------------------------------------- the real thing

def _cfg(port: int, **mqtt: object) -> config.Config:
    return config.replace(config.Config(), general={"device_id": DEV}, web={"enabled": False},
                          mqtt={"enabled": True, "host": "127.0.0.1", "port": port, **mqtt})


def _start(cfg: config.Config, components: object, wav: Path, out: Path | None = None,
           environ: dict[str, str] | None = None) -> tuple[DaemonThread, MqttSurface]:
    surface = MqttSurface(cfg, environ=environ or {})
    daemon = Daemon(cfg, RunOptions(str(wav), str(out) if out else None, pace="realtime"), components, [surface])
    return DaemonThread(daemon), surface


def _comes_online(cfg: config.Config, components: object, wav: Path, **listener: object) -> None:
    """Run the daemon until the broker shows it ``online``, then stop it."""
    run, _ = _start(cfg, components, wav)
    sub = Listener(cfg.mqtt.port, [f"{BASE}/#"], **listener)
    try:
        run.wait_event("ready")
        sub.wait_for(f"{BASE}/availability", lambda p: p == b"online")
    finally:
        sub.close()
        run.stop()


def test_state_discovery_and_every_command(broker: Mosquitto, components: object, long_silence: Path,
                                           tmp_path: Path) -> None:
    out = tmp_path / "out.wav"
    # A command left retained on the broker must not fire when the daemon subscribes.
    stale = Listener(broker.port, [])
    stale.publish(f"{BASE}/listen", "PRESS", retain=True)
    stale.close()
    run, surface = _start(_cfg(broker.port), components, long_silence, out)
    sub = Listener(broker.port, [f"{BASE}/#", "homeassistant/#"])
    try:
        run.wait_event("ready")
        err = run.wait_event("error")
        assert err["where"] == "commands" and "retained" in err["message"]
        assert "listen" not in run.types()  # the retained command did not fire
        sub.publish(f"{BASE}/listen", b"", retain=True)  # clear it from the broker
        sub.wait_for(f"{BASE}/availability", lambda p: p == b"online")
        sub.wait_for(f"{BASE}/state", lambda p: p == b"idle")
        doc = json.loads(sub.wait_for(f"homeassistant/device/{DEV}/config")[0])
        assert all("platform" in c and "unique_id" in c for c in doc["components"].values())
        # QoS 1 in every component (Home Assistant 2024.11-2026.5 reads no device-level qos), and the event
        # entity knows every event type.
        assert {k: c.get("qos") for k, c in doc["components"].items()} == {k: 1 for k in doc["components"]}
        assert doc["components"]["event"]["event_types"] == [*schema.EVENTS, "ack"]
        # A client that connects later gets the retained state.
        late = Listener(broker.port, [f"{BASE}/availability", f"{BASE}/state", f"{BASE}/volume/state"])
        try:
            assert late.wait_for(f"{BASE}/availability") == (b"online", True)
            assert late.wait_for(f"{BASE}/volume/state") == (b"100", True)
        finally:
            late.close()

        sub.publish(f"{BASE}/mute/set", "ON")
        sub.wait_for(f"{BASE}/mute/state", lambda p: p == b"ON")
        sub.wait_for(f"{BASE}/state", lambda p: p == b"muted")
        late = Listener(broker.port, [f"{BASE}/mute/state", f"{BASE}/state"])
        try:  # retained
            assert late.wait_for(f"{BASE}/mute/state") == (b"ON", True)
            assert late.wait_for(f"{BASE}/state") == (b"muted", True)
        finally:
            late.close()
        sub.publish(f"{BASE}/mute/set", "OFF")
        sub.wait_for(f"{BASE}/state", lambda p: p == b"idle")

        sub.publish(f"{BASE}/volume/set", "40")
        sub.wait_for(f"{BASE}/volume/state", lambda p: p == b"40")
        assert run.daemon.settings().volume == 0.4
        assert run.daemon.pipeline.processors[-1].volume == 0.4  # the output applied it
        sub.publish(f"{BASE}/wake_sensitivity/set", "high")
        sub.wait_for(f"{BASE}/wake_sensitivity/state", lambda p: p == b"high")
        base = config.Config().wake.threshold or min(e.default_threshold for e in components.wake)  # type: ignore[attr-defined]
        assert run.daemon.wake.detector.threshold == pytest.approx(max(0.05, base - 0.15))
        sub.publish(f"{BASE}/llm_backend/set", "cloud")
        sub.wait_for(f"{BASE}/llm_backend/state", lambda p: p == b"cloud")
        # The wake word and the end-of-turn sensitivity: selects whose options are the device's own.
        comps_doc = doc["components"]
        assert comps_doc["wake_word"]["options"][0] == "okay_nabu"
        assert "hey_jarvis" in comps_doc["wake_word"]["options"]
        late = Listener(broker.port, [f"{BASE}/wake_word/state", f"{BASE}/end_of_turn/state"])
        try:
            assert late.wait_for(f"{BASE}/wake_word/state") == (b"okay_nabu", True)
            assert late.wait_for(f"{BASE}/end_of_turn/state") == (b"default", True)
        finally:
            late.close()
        sub.publish(f"{BASE}/end_of_turn/set", "relaxed")
        sub.wait_for(f"{BASE}/end_of_turn/state", lambda p: p == b"relaxed")
        changed = run.wait_event("end_of_turn")
        turn_detector = next(p for p in run.daemon.pipeline.processors if isinstance(p, TurnDetector))
        assert changed["silence_seconds"] == turn_detector.segmenter.silence_seconds > turn_detector.configured_silence
        sub.publish(f"{BASE}/wake_word/set", "hey_jarvis")
        sub.wait_for(f"{BASE}/wake_word/state", lambda p: p == b"hey_jarvis")
        assert [e.name for e in run.daemon.wake.engines] == ["hey_jarvis"]
        assert run.wait_event("wake_word")["threshold"] == run.daemon.wake.detector.threshold
        sub.publish(f"{BASE}/wake_word/set", json.dumps({"command": "wake_word", "model": "marvin", "id": "w-1"}))
        refused = json.loads(sub.wait_for(f"{BASE}/event", lambda p: json.loads(p).get("id") == "w-1"
                                          and json.loads(p)["type"] == "ack")[0])
        assert refused["ok"] is False and "allowed on this device: okay_nabu" in refused["error"]
        assert [e.name for e in run.daemon.wake.engines] == ["hey_jarvis"]  # the refused one changed nothing
        sub.publish(f"{BASE}/wake_word/set", "okay_nabu")
        sub.wait_for(f"{BASE}/wake_word/state", lambda p: p == b"okay_nabu")
        sub.publish(f"{BASE}/end_of_turn/set", "default")
        sub.wait_for(f"{BASE}/end_of_turn/state", lambda p: p == b"default")

        # Malformed commands: an error event on MQTT, and the daemon carries on.
        for topic, payload in [("volume/set", "loud"), ("say", b"\xff\xfe"), ("mute/set", "maybe")]:
            sub.publish(f"{BASE}/{topic}", payload)
        def is_cmd_error(p: bytes) -> bool:
            e = json.loads(p)
            return e["event_type"] == "error" and e["where"] == "commands" and "allowed: ON, OFF" in e["message"]
        sub.wait_for(f"{BASE}/event", is_cmd_error)
        errors = [e for e in sub.events(f"{BASE}/event") if e["type"] == "error"]
        assert any("expected a number" in e["message"] for e in errors)
        assert any("UTF-8" in e["message"] for e in errors)

        # listen opens a turn as the wake word would; ask gets an answer from the LLM.
        sub.publish(f"{BASE}/listen", "PRESS")
        sub.wait_for(f"{BASE}/state", lambda p: p == b"listening")
        sub.wait_for(f"{BASE}/event", lambda p: json.loads(p)["type"] == "no_speech")  # nothing is said
        sub.publish(f"{BASE}/ask", "What color is the sky?")
        reply = json.loads(sub.wait_for(f"{BASE}/event", lambda p: json.loads(p)["type"] == "reply")[0])
        assert reply["text"].strip()
        attrs = json.loads(sub.wait_for(f"{BASE}/state/attributes",
                                        lambda p: json.loads(p)["last_reply"] == reply["text"])[0])
        assert attrs["last_transcript"] == "What color is the sky?"
        sub.wait_for(f"{BASE}/event", lambda p: json.loads(p)["type"] == "turn")

        # say speaks (to the end); then stop interrupts a reply in progress.
        sub.publish(f"{BASE}/say", "Hello there.")
        sub.wait_for(f"{BASE}/event", lambda p: json.loads(p)["type"] == "audio_stopped")
        sub.wait_for(f"{BASE}/state", lambda p: p == b"responding")
        n = len(run.events)
        sub.publish(f"{BASE}/say", "Hello from the control plane. This sentence is long enough to be "
                                   "interrupted while it is still being spoken aloud by the speaker.")
        run.wait_event("audio_started", after=n)
        sub.publish(f"{BASE}/stop", "PRESS")
        sub.wait_for(f"{BASE}/event", lambda p: json.loads(p)["type"] == "interrupted")
        run.wait_event("interrupted", after=n)

        # A command with an id is acknowledged on the event topic, taken or refused (a say with the turn it
        # started), and a refused one's error event carries the id.
        def ack_of(ident: object) -> Callable[[bytes], bool]:
            return lambda p: json.loads(p)["type"] == "ack" and json.loads(p)["id"] == ident

        sub.publish(f"{BASE}/say", json.dumps({"command": "say", "text": "Acknowledged.", "id": "s-1"}))
        ack = json.loads(sub.wait_for(f"{BASE}/event", ack_of("s-1"))[0])
        assert ack["event_type"] == "ack" and ack["ok"] is True and ack["command"] == "say" and ack["turn"] > 0
        sub.wait_for(f"{BASE}/event", lambda p: json.loads(p)["type"] == "audio_started"
                     and json.loads(p)["turn"] == ack["turn"])
        sub.publish(f"{BASE}/volume/set", json.dumps({"command": "volume", "volume": 250, "id": 7}))
        bad = json.loads(sub.wait_for(f"{BASE}/event", ack_of(7))[0])
        assert bad["ok"] is False and "from 0 to 100" in bad["error"]
        sub.wait_for(f"{BASE}/event", lambda p: json.loads(p)["type"] == "error" and json.loads(p).get("id") == "7")
        sub.publish(f"{BASE}/volume/set", "30")  # the plain form has no id: no ack
        sub.wait_for(f"{BASE}/volume/state", lambda p: p == b"30")
        assert [e["id"] for e in sub.events(f"{BASE}/event") if e["type"] == "ack"] == ["w-1", "s-1", 7]
        assert run.thread.is_alive() and run.error is None
    finally:
        sub.close()
        run.stop()
    assert run.code == 0
    pcm, _ = read_wav(out)
    assert np.abs(np.frombuffer(pcm, dtype="<i2")).max() > 1000  # the speaker got speech


def test_muted_daemon_ignores_the_wake_word(broker: Mosquitto, components: object, wake_and_command: Path,
                                            tmp_path: Path) -> None:
    wav = fixtures.compose(tmp_path / "later.wav", [6.0, fixtures.read_pcm(wake_and_command), 2.0])
    run, _ = _start(_cfg(broker.port), components, wav)
    sub = Listener(broker.port, [f"{BASE}/#"])
    try:
        run.wait_event("ready")
        sub.wait_for(f"{BASE}/availability", lambda p: p == b"online")
        sub.publish(f"{BASE}/mute/set", "ON")
        sub.wait_for(f"{BASE}/state", lambda p: p == b"muted")
        run.thread.join(120)  # the file ends, the daemon exits
    finally:
        sub.close()
        run.stop()
    assert run.code == 0
    assert "mute" in run.types()
    assert "wake" not in run.types() and "transcript" not in run.types()


def test_reconnects_after_the_broker_is_killed(broker: Mosquitto, components: object, long_silence: Path) -> None:
    run, surface = _start(_cfg(broker.port, reconnect_max_seconds=2.0), components, long_silence)
    try:
        run.wait_event("ready")
        sub = Listener(broker.port, [f"{BASE}/availability"])
        sub.wait_for(f"{BASE}/availability", lambda p: p == b"online")
        sub.close()
        broker.stop(signal.SIGKILL)  # retained messages die with it (persistence false)
        broker.start()
        sub = Listener(broker.port, [f"{BASE}/#", "homeassistant/#"])
        try:
            sub.wait_for(f"{BASE}/availability", lambda p: p == b"online")
            assert sub.wait_for(f"{BASE}/state")[0] == b"idle"
            sub.wait_for(f"homeassistant/device/{DEV}/config")
            # Commands work again after the reconnect.
            sub.publish(f"{BASE}/volume/set", "25")
            sub.wait_for(f"{BASE}/volume/state", lambda p: p == b"25")
        finally:
            sub.close()
        assert surface.connects >= 2
        errs = [e for e in run.daemon.bus.of_type("error") if e.data["where"] == "mqtt"]
        assert errs and "broker" in errs[0].data["message"]
    finally:
        run.stop()
    assert run.code == 0


def test_home_assistant_restart_gets_discovery_again(broker: Mosquitto, components: object,
                                                     long_silence: Path) -> None:
    run, _ = _start(_cfg(broker.port), components, long_silence)
    sub = Listener(broker.port, ["homeassistant/device/#"])
    try:
        run.wait_event("ready")
        sub.wait_for(f"homeassistant/device/{DEV}/config")
        sub.publish("homeassistant/status", "online")

        def count() -> int:
            return sum(1 for t, _, _ in sub.messages if t.endswith("/config"))
        sub.wait_for(f"homeassistant/device/{DEV}/config", lambda p: count() >= 2)
    finally:
        sub.close()
        run.stop()


def test_tls_with_password_and_a_wrong_password(tmp_path: Path, components: object, long_silence: Path) -> None:
    broker = Mosquitto(tmp_path, users={"pi": "s3cret"}, tls=True).start()
    try:
        secret = tmp_path / "mqtt-password"
        secret.write_text("s3cret\n")
        cfg = _cfg(broker.port, host="localhost", tls=True, ca_file=str(broker.ca), username="pi",
                   password_file=str(secret))
        _comes_online(cfg, components, long_silence, ca=broker.ca, user="pi", password="s3cret")

        # The environment variable wins over the file; a wrong one is a clear error, not a crash.
        run, _ = _start(cfg, components, long_silence, environ={"PANIKID_MQTT_PASSWORD": "wrong"})
        try:
            err = run.wait_event("error", timeout=60)
            assert err["where"] == "mqtt" and "refused" in err["message"] and "password" in err["message"]
            assert "wrong" not in err["message"]
            run.wait_event("ready")
            # It keeps retrying with backoff, and says so once, not once per attempt.
            deadline = time.monotonic() + 60
            while broker.log.read_text().count("not authorised") < 3 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert broker.log.read_text().count("not authorised") >= 3
            assert [e.data["where"] for e in run.daemon.bus.of_type("error")] == ["mqtt"]
            assert run.thread.is_alive()
        finally:
            run.stop()
        assert run.code == 0
    finally:
        broker.stop()


def test_user_action_publishes_to_its_topic(broker: Mosquitto, components: object, long_silence: Path) -> None:
    """intents.actions: "turn on the kitchen lights" publishes its payload, even with the small local model."""
    cfg = config.replace(_cfg(broker.port), intents={
        "actions": ["Turn on the kitchen lights | home/kitchen/lights/set | ON | Kitchen lights on."]})
    run, _ = _start(cfg, components, long_silence)
    sub = Listener(broker.port, [f"{BASE}/#", "home/#"])
    try:
        run.wait_event("ready")
        sub.wait_for(f"{BASE}/availability", lambda p: p == b"online")
        sub.publish(f"{BASE}/ask", "Please turn on the kitchen lights")
        payload, retained = sub.wait_for("home/kitchen/lights/set")
        reply = run.wait_event("reply")
    finally:
        sub.close()
        run.stop()
    assert payload == b"ON" and retained is False
    assert reply["text"] == "Kitchen lights on." and reply["backend"] == "intent"


# ---------------------------------------------------------------- Hermes compatibility

def test_hermes_parse_and_outgoing() -> None:
    from panikid.control.mqtt.surface import hermes
    from panikid.control.schema import CommandError
    from panikid.events import Event

    say = hermes.parse(hermes.SAY, b'{"text": " Hi there ", "siteId": "kitchen", "id": "7"}', "kitchen")
    assert say == hermes.HermesRequest("say", "Hi there", "7", None)
    assert hermes.parse(hermes.SAY, b'{"text": "Hi", "siteId": "garage"}', "kitchen") is None  # another site
    assert hermes.parse(hermes.TOGGLE_OFF, b'{"siteId": "default"}', "kitchen") == hermes.HermesRequest("mute")
    for bad in (b"not json", b'{"text": ""}', b'{"text": 3}', b"[1]", b"\xff\xfe", b"x" * 5000):
        with pytest.raises(CommandError):
            hermes.parse(hermes.SAY, bad, "kitchen")
    (topic, payload), = hermes.outgoing(Event("wake", 1.0, {"model": "okay_nabu", "score": 0.9}), "kitchen")
    assert topic == "hermes/hotword/okay_nabu/detected" and json.loads(payload)["siteId"] == "kitchen"
    (topic, payload), = hermes.outgoing(Event("transcript", 1.0, {"turn": 3, "text": "hello"}), "kitchen")
    assert topic == "hermes/asr/textCaptured" and json.loads(payload)["text"] == "hello"
    assert hermes.outgoing(Event("transcript", 1.0, {"turn": 3, "text": "x", "source": "command"}), "k") == []


def test_hermes_topics_against_the_broker(broker: Mosquitto, components: object, wake_and_command: Path,
                                          tmp_path: Path) -> None:
    wav = fixtures.compose(tmp_path / "hermes.wav", [8.0, fixtures.read_pcm(wake_and_command), 60.0])
    out = tmp_path / "out.wav"
    run, _ = _start(_cfg(broker.port, hermes=True), components, wav, out)
    sub = Listener(broker.port, ["hermes/#", f"{BASE}/#"])
    try:
        run.wait_event("ready")
        sub.wait_for(f"{BASE}/availability", lambda p: p == b"online")
        sub.publish("hermes/tts/say", json.dumps({"text": "Hello from Rhasspy.", "siteId": DEV, "id": "abc"}))
        finished, _ = sub.wait_for("hermes/tts/sayFinished")
        assert json.loads(finished)["id"] == "abc"
        sub.publish("hermes/tts/say", "{broken")  # malformed: an error event, nothing else
        run.wait_event("error")
        # The spoken command later in the file: the wake word and the transcript are announced.
        detected, _ = sub.wait_for("hermes/hotword/okay_nabu/detected", timeout=60)
        captured, _ = sub.wait_for("hermes/asr/textCaptured", timeout=60)
        assert json.loads(detected)["siteId"] == DEV
        assert "what time is it" in json.loads(captured)["text"].lower()
        sub.publish("hermes/hotword/toggleOff", json.dumps({"siteId": DEV}))
        sub.wait_for(f"{BASE}/state", lambda p: p == b"muted")
        sub.publish("hermes/hotword/toggleOn", json.dumps({"siteId": DEV}))
        sub.wait_for(f"{BASE}/mute/state", lambda p: p == b"OFF")
    finally:
        sub.close()
        run.stop()


def test_forget_removes_the_device_from_the_broker(broker: Mosquitto, components: object, long_silence: Path,
                                                   tmp_path: Path) -> None:
    """What uninstalling runs: every retained message (discovery first) is cleared."""
    import subprocess
    import sys

    _comes_online(_cfg(broker.port), components, long_silence)
    toml = tmp_path / "panikid.toml"
    toml.write_text(f'[general]\ndevice_id = "{DEV}"\n[mqtt]\nenabled = true\nhost = "127.0.0.1"\n'
                    f"port = {broker.port}\n")
    res = subprocess.run([sys.executable, "-m", "panikid.control.mqtt.forget", "--config", str(toml)],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert "removed kitchen" in res.stdout
    # A client connecting now finds nothing retained under the device or in discovery.
    later = Listener(broker.port, [f"{BASE}/#", "homeassistant/#"])
    try:
        # A live message marks the moment the retained ones would have arrived (on subscribing).
        for _ in range(50):
            later.publish(f"{BASE}/probe", "x")
            with later.cond:
                if any(t == f"{BASE}/probe" for t, _, _ in later.messages):
                    break
            time.sleep(0.1)
        later.wait_for(f"{BASE}/probe", timeout=10)
        assert [t for t, p, _ in later.messages if t != f"{BASE}/probe" and p] == []
    finally:
        later.close()
