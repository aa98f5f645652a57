"""MQTT topic layout, what each event publishes, and the reconnect backoff (all pure).

Under ``<prefix>/<device_id>/``:

==========================  =========  ========  =====================================
topic                       retained   QoS       payload
==========================  =========  ========  =====================================
availability                yes        state     ``online`` / ``offline`` (last will)
state                       yes        state     idle, listening, processing, responding, muted, error
state/attributes            yes        state     JSON: last_transcript, last_reply, backend, last_turn_latency_ms,
                                                 running_timers
event                       no         event     JSON: one event, ``event_type`` = its type
mute/state                  yes        state     ``ON`` / ``OFF``
volume/state                yes        state     0 .. 100
wake_sensitivity/state      yes        state     low, medium, high
wake_word/state             yes        state     a wake word model name (the configured set: names joined by ", ")
end_of_turn/state           yes        state     relaxed, default, aggressive
llm_backend/state           yes        state     auto, local, cloud
mute/set, listen, stop,     never      command   see panikid.control.commands
say, ask, volume/set,
wake_sensitivity/set,
wake_word/set,
end_of_turn/set,
llm_backend/set
==========================  =========  ========  =====================================

With ``mqtt.arbitration``, ``<prefix>/arbitration/<group>`` (not retained, QoS 1) carries the wake
claims of every device of the group (:mod:`panikid.speech.wake.arbiter`).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ...events import Event, dumps, schema
from ..settings import changed_by

COMMAND_TOPICS = {
    "mute/set": "mute",
    "listen": "listen",
    "stop": "stop",
    "say": "say",
    "ask": "ask",
    "volume/set": "volume",
    "wake_sensitivity/set": "wake_sensitivity",
    "wake_word/set": "wake_word",
    "end_of_turn/set": "end_of_turn",
    "llm_backend/set": "llm_backend",
}
"""Command topic (under the device base) -> command name."""

ACK = "ack"
"""What the ``event`` topic says of a command sent with an ``id`` (MQTT's own: not a bus event)."""
EVENT_TYPES = [*schema.EVENTS, ACK]
"""Every event type goes to the ``event`` topic (an automation may react to any: a timer ringing, a
reload), and is one of the Home Assistant event entity's ``event_types``; so does ``ack``."""


@dataclass(frozen=True)
class Message:
    topic: str
    payload: str
    retain: bool
    kind: str  # "state" or "event": picks the QoS


class Topics:
    def __init__(self, prefix: str, device_id: str) -> None:
        self.base = f"{prefix}/{device_id}"
        self.availability = f"{self.base}/availability"
        self.state = f"{self.base}/state"
        self.attributes = f"{self.base}/state/attributes"
        self.event = f"{self.base}/event"

    def command(self, sub: str) -> str:
        return f"{self.base}/{sub}"

    def setting(self, name: str) -> str:
        return f"{self.base}/{name}/state"

    def command_name(self, topic: str) -> str | None:
        """The command a topic carries, or None when it is not a command topic."""
        if not topic.startswith(self.base + "/"):
            return None
        return COMMAND_TOPICS.get(topic[len(self.base) + 1:])


def arbitration_topic(prefix: str, group: str) -> str:
    """Where the devices of ``group`` share their wake claims (``mqtt.arbitration_group``)."""
    return f"{prefix}/arbitration/{group}"


def ack_message(topics: Topics, ident: str | int, reply: dict[str, Any]) -> Message:
    """The acknowledgement of a command sent with an ``id``: the handler's reply (``ok``, ``command``,
    ``turn`` for say/ask, or ``error``) with the id."""
    return Message(topics.event, dumps({"event_type": ACK, "type": ACK, "id": ident, **reply}), False, "event")


def messages_for(e: Event, topics: Topics, attributes: dict[str, Any]) -> list[Message]:
    """What one bus event publishes (``attributes``: the status after the event)."""
    out: list[Message] = []
    if isinstance(e.body, schema.StateChanged):
        out.append(Message(topics.state, str(e.body.state), True, "state"))
    definition = schema.definition(e.type)
    if definition is not None and definition.mqtt_attributes:
        out.append(Message(topics.attributes, dumps(attributes), True, "state"))
    change = changed_by(e)
    if change is not None:
        setting, value = change
        out.append(Message(topics.setting(setting.name), setting.payload(value), True, "state"))
    if definition is not None:
        body = {"event_type": e.type, **e.to_dict()}
        out.append(Message(topics.event, dumps(body), False, "event"))
    return out


def backoff_delay(attempt: int, cap: float, base: float = 0.5, rand: Callable[[], float] = random.random) -> float:
    """Seconds to wait before reconnect attempt ``attempt`` (0-based).

    Exponential from ``base``, capped at ``cap``, with "equal jitter": somewhere
    between half and all of the exponential value, so many devices that lost the
    same broker do not all come back in the same instant.
    """
    ceiling = min(cap, base * 2 ** min(attempt, 30))
    return ceiling / 2 + rand() * ceiling / 2
