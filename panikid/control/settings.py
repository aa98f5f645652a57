"""The runtime settings a surface can change and show: mute, volume, wake word sensitivity, wake word,
end-of-turn sensitivity, LLM backend.

One table, ``SETTINGS``, says for each one: its name (the MQTT topic ``<name>/state``), its key in the
WebSocket snapshot, the events that announce a change, the value such an event carries, the current value
in :class:`RuntimeSettings` (what the control API's ``settings()`` returns), and how a value is written as
an MQTT payload. The MQTT surface (every retained state after a connect, each change as it happens),
``forget`` (the retained topics to clear) and the WebSocket snapshot all read this table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..events import Event
from ..events.schema import (
    EndOfTurnChanged,
    LlmBackendChanged,
    Muted,
    Unmuted,
    VolumeChanged,
    WakeSensitivityChanged,
    WakeWordChanged,
)


@dataclass(frozen=True)
class RuntimeSettings:
    """The settings in effect now."""

    muted: bool = False
    volume: float = 1.0
    """Playback volume, 0 to 1 (surfaces show it in percent)."""
    wake_sensitivity: str = "medium"
    """low, medium or high: moves the wake threshold around the configured one."""
    wake_word: str = "okay_nabu"
    """The wake word listened for (a model name; the configured set joined by ", " when several)."""
    end_of_turn: str = "default"
    """relaxed, default or aggressive: how long a silence ends a turn (panikid.speech.turn.patience)."""
    llm_backend: str = "auto"
    """auto, local or cloud: which brain answers from the next turn on."""


def percent(volume: float) -> float:
    """A 0 to 1 volume as surfaces show it: 0.333 -> 33.3."""
    return round(volume * 100, 1)


def number(value: Any) -> str:
    """An MQTT number payload: 40.0 -> ``40``, 33.3 -> ``33.3``."""
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def on_off(value: Any) -> str:
    return "ON" if value else "OFF"


@dataclass(frozen=True)
class Setting:
    name: str
    """The setting's topic under the device: ``<name>/state`` (retained), ``<name>/set`` (its command)."""
    key: str
    """Its key in the WebSocket snapshot."""
    events: tuple[str, ...]
    """The events that announce a change of it."""
    of_event: Callable[[Event], Any]
    """The new value one of those events carries (as shown: volume in percent)."""
    of_settings: Callable[[RuntimeSettings], Any]
    """The current value (as shown)."""
    payload: Callable[[Any], str]
    """A value as its MQTT payload."""


SETTINGS = (
    Setting("mute", "muted", (Muted.type, Unmuted.type), lambda e: isinstance(e.body, Muted), lambda s: s.muted,
            on_off),
    Setting("volume", "volume", (VolumeChanged.type,),
            lambda e: e.body.volume if isinstance(e.body, VolumeChanged) else None,
            lambda s: percent(s.volume), number),
    Setting("wake_sensitivity", "wake_sensitivity", (WakeSensitivityChanged.type,),
            lambda e: e.body.level if isinstance(e.body, WakeSensitivityChanged) else None,
            lambda s: s.wake_sensitivity, str),
    Setting("wake_word", "wake_word", (WakeWordChanged.type,),
            lambda e: e.body.model if isinstance(e.body, WakeWordChanged) else None,
            lambda s: s.wake_word, str),
    Setting("end_of_turn", "end_of_turn", (EndOfTurnChanged.type,),
            lambda e: e.body.level if isinstance(e.body, EndOfTurnChanged) else None,
            lambda s: s.end_of_turn, str),
    Setting("llm_backend", "llm_backend", (LlmBackendChanged.type,),
            lambda e: e.body.backend if isinstance(e.body, LlmBackendChanged) else None,
            lambda s: s.llm_backend, str),
)

_BY_EVENT = {event: s for s in SETTINGS for event in s.events}


def changed_by(e: Event) -> tuple[Setting, Any] | None:
    """The setting an event changed, and its new value (as shown); None for any other event."""
    setting = _BY_EVENT.get(e.type)
    return None if setting is None else (setting, setting.of_event(e))


def snapshot(current: RuntimeSettings) -> dict[str, Any]:
    """The settings as the WebSocket snapshot shows them."""
    return {s.key: s.of_settings(current) for s in SETTINGS}
