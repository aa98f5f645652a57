"""Home Assistant MQTT device discovery: one retained JSON document per device.

Published to ``<discovery_prefix>/device/<device_id>/config`` (and again whenever
Home Assistant announces ``online`` on ``<discovery_prefix>/status``).
"""

from __future__ import annotations

from typing import Any

from ... import __version__
from ..schema import BACKENDS, END_OF_TURN_LEVELS, MAX_TEXT_CHARS, SENSITIVITIES
from .topics import EVENT_TYPES, Topics

STATES = ["idle", "listening", "processing", "responding", "muted", "error"]


def discovery_topic(discovery_prefix: str, device_id: str) -> str:
    return f"{discovery_prefix}/device/{device_id}/config"


def discovery_payload(device_id: str, topics: Topics, qos: int, wake_words: list[str]) -> dict[str, Any]:
    """The device's document; ``wake_words`` are the wake word select's options (the device's own)."""
    uid = f"panikid_{device_id}"
    attrs = topics.attributes

    def comp(platform: str, key: str, name: str, **extra: Any) -> dict[str, Any]:
        # qos in each component: Home Assistant 2024.11 to 2026.5 ignores a device-level qos.
        return {"platform": platform, "unique_id": f"{uid}_{key}", "name": name, "qos": qos, **extra}

    components = {
        "state": comp("sensor", "state", "State", state_topic=topics.state, device_class="enum",
                      options=STATES, icon="mdi:account-voice",
                      json_attributes_topic=attrs),
        "last_transcript": comp("sensor", "last_transcript", "Last transcript", state_topic=attrs,
                                value_template="{{ value_json.last_transcript[:255] }}", icon="mdi:text"),
        "last_reply": comp("sensor", "last_reply", "Last reply", state_topic=attrs,
                           value_template="{{ value_json.last_reply[:255] }}", icon="mdi:message-reply-text"),
        "mute": comp("switch", "mute", "Mute", command_topic=topics.command("mute/set"),
                     state_topic=topics.setting("mute"), payload_on="ON", payload_off="OFF",
                     icon="mdi:microphone-off"),
        "listen": comp("button", "listen", "Listen", command_topic=topics.command("listen"),
                       payload_press="PRESS", icon="mdi:microphone"),
        "stop": comp("button", "stop", "Stop", command_topic=topics.command("stop"),
                     payload_press="PRESS", icon="mdi:stop"),
        "say": comp("text", "say", "Say", command_topic=topics.command("say"), min=1,
                    max=min(255, MAX_TEXT_CHARS), mode="text", icon="mdi:bullhorn"),
        "ask": comp("text", "ask", "Ask", command_topic=topics.command("ask"), min=1,
                    max=min(255, MAX_TEXT_CHARS), mode="text", icon="mdi:chat-question"),
        # notify.send_message: Home Assistant's announcement service, spoken as a say.
        "announce": comp("notify", "announce", "Announce", command_topic=topics.command("say"),
                         icon="mdi:bullhorn-variant"),
        "backend": comp("sensor", "backend", "Last backend", state_topic=attrs,
                        value_template="{{ value_json.backend }}", icon="mdi:brain"),
        "last_latency": comp("sensor", "last_latency", "Last reply latency", state_topic=attrs,
                             value_template="{{ value_json.last_turn_latency_ms }}", unit_of_measurement="ms",
                             device_class="duration", state_class="measurement", icon="mdi:timer-outline"),
        "running_timers": comp("sensor", "running_timers", "Running timers", state_topic=attrs,
                               value_template="{{ value_json.running_timers }}", state_class="measurement",
                               icon="mdi:timer-sand"),
        "volume": comp("number", "volume", "Volume", command_topic=topics.command("volume/set"),
                       state_topic=topics.setting("volume"), min=0, max=100, step=1,
                       unit_of_measurement="%", mode="slider", icon="mdi:volume-high"),
        "wake_sensitivity": comp("select", "wake_sensitivity", "Wake word sensitivity",
                                 command_topic=topics.command("wake_sensitivity/set"),
                                 state_topic=topics.setting("wake_sensitivity"), options=list(SENSITIVITIES),
                                 entity_category="config"),
        "wake_word": comp("select", "wake_word", "Wake word", command_topic=topics.command("wake_word/set"),
                          state_topic=topics.setting("wake_word"), options=list(wake_words),
                          entity_category="config", icon="mdi:account-voice"),
        # Home Assistant's own name for it (the Voice PE's "Finished speaking detection"), and its levels.
        "end_of_turn": comp("select", "end_of_turn", "Finished speaking detection",
                            command_topic=topics.command("end_of_turn/set"),
                            state_topic=topics.setting("end_of_turn"), options=list(END_OF_TURN_LEVELS),
                            entity_category="config", icon="mdi:timer-sand-complete"),
        "llm_backend": comp("select", "llm_backend", "LLM backend",
                            command_topic=topics.command("llm_backend/set"),
                            state_topic=topics.setting("llm_backend"), options=list(BACKENDS),
                            entity_category="config"),
        "event": comp("event", "event", "Event", state_topic=topics.event, event_types=list(EVENT_TYPES)),
    }
    return {
        "device": {"identifiers": [uid], "name": f"panikid {device_id}", "manufacturer": "panikid",
                   "model": "voice assistant", "sw_version": __version__},
        "origin": {"name": "panikid", "sw_version": __version__},
        "availability_topic": topics.availability,
        "payload_available": "online",
        "payload_not_available": "offline",
        "qos": qos,
        "components": components,
    }
