"""The events of a command taking effect, from any surface (MQTT, the WebSocket, a spoken intent, a signal):
mute, unmute, listen and the settings. Registered with the others in :data:`panikid.events.schema.EVENTS`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .codec import EventBody, optional


@dataclass(frozen=True, kw_only=True)
class Muted(EventBody):
    """The microphone was muted."""

    type: ClassVar[str] = "mute"


@dataclass(frozen=True, kw_only=True)
class Unmuted(EventBody):
    """The microphone was unmuted."""

    type: ClassVar[str] = "unmute"


@dataclass(frozen=True, kw_only=True)
class Listening(EventBody):
    """A turn started without the wake word: the listen command, or follow-up mode."""

    type: ClassVar[str] = "listen"
    follow_up: bool = optional(False)  # after a reply to a question
    seconds: float | None = optional()  # how long follow-up mode waits for speech


@dataclass(frozen=True, kw_only=True)
class VolumeChanged(EventBody):
    """The playback volume, in percent."""

    type: ClassVar[str] = "volume"
    volume: float


@dataclass(frozen=True, kw_only=True)
class WakeSensitivityChanged(EventBody):
    """The wake word sensitivity (low, medium, high) and the threshold it set."""

    type: ClassVar[str] = "wake_sensitivity"
    level: str
    threshold: float


@dataclass(frozen=True, kw_only=True)
class WakeWordChanged(EventBody):
    """The wake word listened for now (a model name, or several joined by ", ") and its threshold."""

    type: ClassVar[str] = "wake_word"
    model: str
    threshold: float


@dataclass(frozen=True, kw_only=True)
class EndOfTurnChanged(EventBody):
    """The end-of-turn sensitivity (relaxed, default, aggressive) and the silence that now ends a turn."""

    type: ClassVar[str] = "end_of_turn"
    level: str
    silence_seconds: float


@dataclass(frozen=True, kw_only=True)
class LlmBackendChanged(EventBody):
    """Which brain answers from the next turn on: auto, local or cloud."""

    type: ClassVar[str] = "llm_backend"
    backend: str
