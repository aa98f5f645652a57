"""The event schema: one definition per event type, shared by every surface.

Every event the daemon publishes is one of the dataclasses below:
``bus.publish(Wake(model="okay_nabu", score=0.97, stream_t=12.3))``. Each names
its fields, their types and which are optional (written only when set), and has
``to_dict()`` / ``from_dict()`` (Wyoming style, as :mod:`panikid.control.schema`
does for commands): ``{"type": "wake", "model": "okay_nabu", ...}``; the bus adds
``t``, the seconds since start. ``--events``, MQTT (the ``event`` topic, the
retained state and attributes), the WebSocket, the journal and the status page
all write and read events through these definitions, so the same event has the
same name and fields everywhere. How a definition becomes a dict is in
:mod:`panikid.events.codec`.

A ``turn`` field is the turn id (:func:`panikid.pipeline.turns.next_turn_id`);
``stream_t`` is a time in the audio stream, ``*_t`` fields are on the event
clock (``t``), ``*_ms`` are milliseconds.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from .codec import EventBody, EventSchemaError, optional
from .commands import (
    EndOfTurnChanged,
    Listening,
    LlmBackendChanged,
    Muted,
    Unmuted,
    VolumeChanged,
    WakeSensitivityChanged,
    WakeWordChanged,
)
from .satellite import SATELLITE_EVENTS

__all__ = ["EVENTS", "EventBody", "EventSchemaError", "definition", "from_dict", "read"]

# ------------------------------------------------------------------ the daemon


@dataclass(frozen=True, kw_only=True)
class Ready(EventBody):
    """Models loaded and audio flowing: the assistant can hear."""

    type: ClassVar[str] = "ready"
    input: str
    output: str
    load_seconds: dict[str, float]


@dataclass(frozen=True, kw_only=True)
class StateChanged(EventBody):
    """The assistant's state: idle, listening, processing, responding, muted or error."""

    type: ClassVar[str] = "state"
    state: str
    reason: str | None = optional()  # why: a state timed out back to idle, a device is lost (error)


@dataclass(frozen=True, kw_only=True)
class ConfigReloaded(EventBody):
    """The configuration file was read again (SIGHUP): what was applied, what needs a restart."""

    type: ClassVar[str] = "config_reloaded"
    source: str
    applied: dict[str, Any]
    restart_needed: list[str]
    wake_threshold: float | None


# ------------------------------------------------------------------ a turn, in order


@dataclass(frozen=True, kw_only=True)
class Wake(EventBody):
    """The wake word was heard."""

    type: ClassVar[str] = "wake"
    model: str
    score: float
    stream_t: float
    level_dbfs: float | None = optional()  # how loud the microphone heard the phrase, before the front end


@dataclass(frozen=True, kw_only=True)
class WakeArbitration(EventBody):
    """Devices that heard one wake word agreed which answers (``mqtt.arbitration``): the loudest.

    ``won``: this device answers; else it goes back to what it was doing, silently. ``levels``: each
    claim's level by device id (this device's among them); ``alone``: the broker was not reachable, so
    this device answered at once without asking the others."""

    type: ClassVar[str] = "wake_arbitration"
    won: bool
    winner: str
    level_dbfs: float | None
    levels: dict[str, float]
    apart_ms: float | None = optional()  # how far apart the first and the last claim were made
    alone: bool = optional(False)


@dataclass(frozen=True, kw_only=True)
class StopWord(EventBody):
    """A stop word was heard while a reply played: the reply stops, no turn starts."""

    type: ClassVar[str] = "stop_word"
    model: str
    score: float
    stream_t: float


@dataclass(frozen=True, kw_only=True)
class CuePlayed(EventBody):
    """A cue was played (chime, done, error or a WAV's name); not a reply: no audio_started."""

    type: ClassVar[str] = "cue"
    name: str
    seconds: float


@dataclass(frozen=True, kw_only=True)
class SpeechStarted(EventBody):
    """The command after the wake word began."""

    type: ClassVar[str] = "speech_started"
    turn: int
    stream_t: float


@dataclass(frozen=True, kw_only=True)
class SpeechStopped(EventBody):
    """The command ended: its last voiced audio, and why the turn was ended there."""

    type: ClassVar[str] = "speech_stopped"
    turn: int
    reason: str  # speech_ended, turn_model, max_length, end_of_input
    speech_seconds: float
    voiced_seconds: float
    stream_t: float
    speech_end_t: float | None  # the end of speech on the event clock
    turn_model_probability: float | None = optional()  # when the end-of-turn model decided


@dataclass(frozen=True, kw_only=True)
class Transcript(EventBody):
    """What was said (or asked with the ask command)."""

    type: ClassVar[str] = "transcript"
    mqtt_attributes: ClassVar[bool] = True
    log_level: ClassVar[int] = logging.DEBUG
    turn: int
    text: str
    stt_ms: float | None = optional()
    audio_seconds: float | None = optional()
    source: str | None = optional()  # "command" for the ask command
    engine: str | None = optional()  # the speech-to-text engine that answered: "whisper" or "wyoming"


@dataclass(frozen=True, kw_only=True)
class IntentHandled(EventBody):
    """An instant intent, a tool call or a user action answered the turn."""

    type: ClassVar[str] = "intent"
    mqtt_attributes: ClassVar[bool] = True  # the running timers
    turn: int
    name: str
    seconds: float | None = optional()  # the timer's length (an intent's slot)
    level: float | None = optional()  # the volume asked for, 0 to 1 (an intent's slot)
    via: str | None = optional()  # "tool" when a cloud model called it
    arguments: str | None = optional()  # the tool call's arguments, as the model wrote them
    topic: str | None = optional()  # where a user action published
    timers: int | None = optional()  # timers running after it (instant intents)


@dataclass(frozen=True, kw_only=True)
class Reply(EventBody):
    """The reply, once written: which brain wrote it, and how fast."""

    type: ClassVar[str] = "reply"
    mqtt_attributes: ClassVar[bool] = True
    log_level: ClassVar[int] = logging.DEBUG
    turn: int
    text: str
    backend: str  # local, cloud, intent, none
    fallback_reason: str | None
    llm_ttft_ms: float | None
    llm_ms: float
    pieces: int
    intent: str | None = optional()  # the instant intent that answered
    interrupted: bool = optional(False)  # cut while being written (text is what was written)


@dataclass(frozen=True, kw_only=True)
class TtsStarted(EventBody):
    """The reply's first sentence was synthesized."""

    type: ClassVar[str] = "tts_started"
    turn: int
    tts_ttfb_ms: float
    engine: str | None = optional()  # the engine that spoke the first sentence: "piper", "wyoming", ...


@dataclass(frozen=True, kw_only=True)
class AudioStarted(EventBody):
    """The reply began to play."""

    type: ClassVar[str] = "audio_started"
    turn: int


@dataclass(frozen=True, kw_only=True)
class AudioStopped(EventBody):
    """The reply stopped playing: at its end, or cut (heard_text: the sentences played)."""

    type: ClassVar[str] = "audio_stopped"
    turn: int
    interrupted: bool
    heard_text: str | None = optional()
    echo_reduction_db: float | None = optional()
    """With echo cancellation: how much quieter the microphone's audio was after the front end than
    before it while the reply played (its echo taken out; a user talking over the reply lowers it)."""


@dataclass(frozen=True, kw_only=True)
class TurnSummary(EventBody):
    """A turn's latency figures, once its reply stopped."""

    type: ClassVar[str] = "turn"
    mqtt_attributes: ClassVar[bool] = True
    turn: int
    speech_end_to_first_audio_ms: float | None
    eos_to_first_audio_ms: float | None
    stt_ms: float | None
    llm_ttft_ms: float | None
    tts_ttfb_ms: float | None
    backend: str | None
    fallback_reason: str | None
    interrupted: bool
    stt_engine: str | None  # the speech-to-text engine that answered (a remote one's local fallback when it did)
    tts_engine: str | None  # the text-to-speech engine that spoke the reply's first sentence


# ------------------------------------------------------------------ the audio devices


@dataclass(frozen=True, kw_only=True)
class DeviceLost(EventBody):
    """A capture or playback device failed or disappeared: the assistant is in ``error`` until it is back."""

    type: ClassVar[str] = "device_lost"
    log_level: ClassVar[int] = logging.ERROR
    kind: str  # input or output
    device: str  # the configured name ("" = the system default) or the name it had
    message: str
    retry_seconds: float  # how often it is looked for


@dataclass(frozen=True, kw_only=True)
class DeviceRestored(EventBody):
    """A lost device works again (audio flows), without a restart."""

    type: ClassVar[str] = "device_restored"
    kind: str
    device: str  # the name of the device now open
    lost_seconds: float  # how long it was gone


@dataclass(frozen=True, kw_only=True)
class SessionStarted(EventBody):
    """A remote session (a browser, a program) took the floor: the assistant hears and answers it, not the
    local microphone, until it ends."""

    type: ClassVar[str] = "session_started"
    session: int
    kind: str  # websocket or webrtc
    peer: str  # the remote address


@dataclass(frozen=True, kw_only=True)
class SessionEnded(EventBody):
    """A remote session ended: the floor is the local microphone's again (a turn it was in is cut)."""

    type: ClassVar[str] = "session_ended"
    session: int
    kind: str
    reason: str  # closed, or no audio within web.session_timeout_seconds
    seconds: float  # how long it lasted


# ------------------------------------------------------------------ what ends a turn early (or answers none)


@dataclass(frozen=True, kw_only=True)
class Error(EventBody):
    """Something failed (the daemon keeps running unless it is fatal)."""

    type: ClassVar[str] = "error"
    log_level: ClassVar[int] = logging.ERROR
    where: str
    message: str
    turn: int | None = optional()  # the turn it belongs to
    source: str | None = optional()  # the surface a refused command came from
    id: str | None = optional()  # the refused command's own id (its JSON form's "id"), as text
    fatal: bool = optional(False)  # the assistant cannot go on (the audio input stopped)


@dataclass(frozen=True, kw_only=True)
class Interrupted(EventBody):
    """A wake word or a stop command cut the reply."""

    type: ClassVar[str] = "interrupted"
    turn: int


@dataclass(frozen=True, kw_only=True)
class NoSpeech(EventBody):
    """Nothing was said after the wake word (a turn_abandoned follows)."""

    type: ClassVar[str] = "no_speech"
    turn: int


@dataclass(frozen=True, kw_only=True)
class TurnAbandoned(EventBody):
    """The turn ended without a reply: no_speech, not_understood, muted or empty_reply."""

    type: ClassVar[str] = "turn_abandoned"
    turn: int
    reason: str
    detail: str | None = optional()  # why
    heard: str | None = optional()  # what speech-to-text wrote (not_understood)
    stt_ms: float | None = optional()
    audio_seconds: float | None = optional()


@dataclass(frozen=True, kw_only=True)
class Unhandled(EventBody):
    """A request nothing here can carry out, answered "Sorry, I can't ...": for an automation."""

    type: ClassVar[str] = "unhandled"
    turn: int
    text: str
    what: str  # kitchen lights, weather, ...
    how: str  # on, lock, service, ...


@dataclass(frozen=True, kw_only=True)
class TimerFinished(EventBody):
    """A timer rang; its text is spoken."""

    type: ClassVar[str] = "timer_finished"
    mqtt_attributes: ClassVar[bool] = True  # the running timers
    turn: int
    timer: int
    label: str
    text: str
    timers: int | None = optional()  # timers still running


# ------------------------------------------------------------------ lookup

_ALL: tuple[type[EventBody], ...] = (
    Ready, StateChanged, ConfigReloaded, Wake, WakeArbitration, StopWord, CuePlayed, SpeechStarted, SpeechStopped,
    Transcript, IntentHandled, Reply, TtsStarted, AudioStarted, AudioStopped, TurnSummary, DeviceLost, DeviceRestored,
    SessionStarted, SessionEnded, Error, Interrupted, NoSpeech, TurnAbandoned, Unhandled, TimerFinished, Muted,
    Unmuted, Listening, VolumeChanged, WakeSensitivityChanged, WakeWordChanged, EndOfTurnChanged, LlmBackendChanged,
    *SATELLITE_EVENTS,
)
EVENTS: dict[str, type[EventBody]] = {cls.type: cls for cls in _ALL}
"""Every event type, by name."""


def definition(type_name: str) -> type[EventBody] | None:
    """The definition of an event type, or None when no event has that name."""
    return EVENTS.get(type_name)


def from_dict(data: Any) -> EventBody:
    """The event a dict (a line of ``--events``) describes; EventSchemaError when it describes none."""
    if not isinstance(data, Mapping):
        raise EventSchemaError(f"an event must be a JSON object, got {type(data).__name__}")
    name = data.get("type")
    if not isinstance(name, str):
        raise EventSchemaError('an event needs a "type" field naming it, e.g. {"type": "wake", ...}')
    cls = EVENTS.get(name)
    if cls is None:
        raise EventSchemaError(f"unknown event type {name[:40]!r}, known: {', '.join(EVENTS)}")
    return cls.from_dict(data)


def read(type_name: str, data: Mapping[str, Any]) -> EventBody | None:
    """An event built by hand from a type and its fields, read leniently (see
    :meth:`EventBody.read`); None when no event has that name."""
    cls = EVENTS.get(type_name)
    return cls.read(data) if cls is not None else None
