"""User actions from the configuration: a spoken phrase publishes a message (MQTT, later).

Each ``intents.actions`` entry is ``"PHRASE | TOPIC | PAYLOAD"`` with an optional
fourth field, the spoken confirmation (default "Done."). The phrase matches when
the normalised request contains it. Publishing goes through an ``ActionSink``
(the MQTT surface implements it); nothing here knows about MQTT.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..config import ConfigError
from .intents import ActionSink, normalize


class ActionConfigError(ConfigError):
    """An ``intents.actions`` entry is malformed; the message names it."""


@dataclass(frozen=True)
class UserAction:
    phrase: str
    topic: str
    payload: str
    reply: str = "Done."


def parse_actions(entries: list[str]) -> list[UserAction]:
    actions = []
    for i, entry in enumerate(entries):
        fields = [f.strip() for f in entry.split("|")]
        if len(fields) not in (3, 4) or not fields[0] or not fields[1]:
            raise ActionConfigError(
                f"intents.actions[{i}]: got {entry!r}, expected \"PHRASE | TOPIC | PAYLOAD\" "
                "with an optional \"| REPLY\"")
        if any(c in fields[1] for c in "+#"):
            raise ActionConfigError(f"intents.actions[{i}]: topic {fields[1]!r} must not contain + or #")
        actions.append(UserAction(normalize(fields[0]), *fields[1:]))
    return actions


def match_action(text: str, actions: list[UserAction]) -> UserAction | None:
    t = f" {normalize(text)} "
    return next((a for a in actions if f" {a.phrase} " in t), None)


def run_action(action: UserAction, sink: ActionSink | None) -> str:
    """Publish the action's message; what to say. Raises RuntimeError when there is no sink."""
    if sink is None:
        raise RuntimeError(f"no message surface to publish {action.topic} (enable [mqtt])")
    sink.publish(action.topic, action.payload)
    return action.reply
