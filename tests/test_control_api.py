"""The control API and the runtime settings table: one definition each, read by every surface."""

from __future__ import annotations

import dataclasses

import pytest

from panikid import config as config_mod
from panikid.app.daemon import Daemon, RunOptions
from panikid.config import Config
from panikid.control import api, settings
from panikid.control.mqtt.forget import retained_topics
from panikid.control.mqtt.topics import Topics, messages_for
from panikid.control.settings import SETTINGS, RuntimeSettings
from panikid.events import EventBus
from panikid.service.surface import Watched


def _members(protocol: type) -> set[str]:
    return {n for n in vars(protocol) if not n.startswith("_")}


def test_the_daemon_implements_the_control_api_and_the_systemd_surface_reads_part_of_it() -> None:
    members = _members(api.ControlApi)
    assert {"bus", "commands", "running", "current_state", "settings", "last_audio", "mute", "listen",
            "stop_turn", "say", "ask", "set_volume", "set_wake_sensitivity",
            "wake_words", "set_wake_word", "set_end_of_turn", "set_llm_backend", "reload"} <= members
    assert _members(Watched) <= members  # service/ may not import control/: its protocol is a part of this one
    daemon = Daemon(Config(), RunOptions())
    assert all(hasattr(daemon, m) for m in members)
    assert daemon.commands.control is daemon  # one handler, created with the daemon
    assert not daemon.running and daemon.current_state() == "idle" and daemon.last_audio() is None


@pytest.mark.parametrize(("current", "event", "payload"), [
    (RuntimeSettings(muted=True), ("mute", {}), "ON"),
    (RuntimeSettings(muted=False), ("unmute", {}), "OFF"),
    (RuntimeSettings(volume=0.4), ("volume", {"volume": 40.0}), "40"),
    (RuntimeSettings(volume=0.333), ("volume", {"volume": 33.3}), "33.3"),
    (RuntimeSettings(wake_sensitivity="high"), ("wake_sensitivity", {"level": "high", "threshold": 0.5}), "high"),
    (RuntimeSettings(wake_word="hey_jarvis"), ("wake_word", {"model": "hey_jarvis", "threshold": 0.97}),
     "hey_jarvis"),
    (RuntimeSettings(end_of_turn="relaxed"), ("end_of_turn", {"level": "relaxed", "silence_seconds": 0.9}),
     "relaxed"),
    (RuntimeSettings(llm_backend="cloud"), ("llm_backend", {"backend": "cloud"}), "cloud"),
])
def test_a_setting_is_written_the_same_as_it_changes_and_after_a_reconnect(
        current: RuntimeSettings, event: tuple[str, dict[str, object]], payload: str) -> None:
    topics = Topics("panikid", "kitchen")
    e = EventBus().publish(event[0], **event[1])
    live = [m for m in messages_for(e, topics, {}) if m.topic.endswith("/state")]
    change = settings.changed_by(e)
    assert change is not None
    setting = change[0]
    retained = setting.payload(setting.of_settings(current))  # what a (re)connect publishes
    assert [(m.topic, m.payload, m.retain) for m in live] == [(topics.setting(setting.name), payload, True)]
    assert retained == payload


def test_the_table_names_every_setting_once_and_feeds_the_snapshot_and_forget() -> None:
    assert [s.name for s in SETTINGS] == ["mute", "volume", "wake_sensitivity", "wake_word", "end_of_turn",
                                          "llm_backend"]
    assert settings.snapshot(RuntimeSettings()) == {"muted": False, "volume": 100.0, "wake_sensitivity": "medium",
                                                    "wake_word": "okay_nabu", "end_of_turn": "default",
                                                    "llm_backend": "auto"}
    assert {f.name for f in dataclasses.fields(RuntimeSettings)} == {s.key for s in SETTINGS}
    cfg = config_mod.replace(Config(), general={"device_id": "kitchen"})
    assert {f"panikid/kitchen/{s.name}/state" for s in SETTINGS} <= set(retained_topics(cfg))
    assert settings.changed_by(EventBus().publish("wake", model="x", score=1.0)) is None
