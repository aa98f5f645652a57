"""The assistant state machine (pure, clock-free: time is an argument).

idle -> listening (wake) -> processing (end of speech) -> responding (audio)
-> idle. ``muted`` and ``error`` sit beside them. Every non-idle state has a
timeout that returns to idle, so the assistant can never stay stuck, except
``error`` while an audio device is lost (``device_lost``): that holds until the
device is back (``device_restored``), and ``reason`` says what is missing.

With wake arbitration, a device that heard the wake word but lost to a louder one
(``wake_arbitration`` with ``won`` false) goes back to the state it was woken from.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from .satellite import SatelliteEnded, SatelliteHeard
from .schema import (
    AudioStarted,
    AudioStopped,
    DeviceLost,
    DeviceRestored,
    Error,
    Listening,
    Muted,
    NoSpeech,
    SpeechStarted,
    SpeechStopped,
    TurnAbandoned,
    Unmuted,
    Wake,
    WakeArbitration,
)


class State(enum.Enum):
    IDLE = "idle"
    LISTENING = "listening"
    PROCESSING = "processing"
    RESPONDING = "responding"
    MUTED = "muted"
    ERROR = "error"


DEFAULT_TIMEOUTS = {
    State.LISTENING: 20.0,
    State.PROCESSING: 30.0,
    State.RESPONDING: 120.0,
    State.ERROR: 5.0,
}


@dataclass
class StateMachine:
    timeouts: dict[State, float] = field(default_factory=lambda: dict(DEFAULT_TIMEOUTS))

    def __post_init__(self) -> None:
        self.state = State.IDLE
        self.since = 0.0
        self.muted = False
        self.turn = 0
        self.lost: dict[str, str] = {}
        """The lost devices ("input", "output") and what happened to them."""
        self.reason: str | None = None
        """Why the state is what it is, when that needs saying (a lost device)."""
        self.woken_from: State | None = None
        """The state the last wake word came in (listening since then), until the wake is arbitrated."""

    def _go(self, new: State, now: float, reason: str | None = None) -> State | None:
        if new is self.state and reason == self.reason:
            return None
        self.state, self.since, self.reason = new, now, reason
        return new

    def _on_device(self, type: str, data: dict[str, Any], now: float) -> State | None:
        kind = str(data.get("kind", "input"))
        if type == DeviceLost.type:
            self.lost[kind] = str(data.get("message", f"the {kind} device is gone"))
        else:
            self.lost.pop(kind, None)
        if self.lost:
            return self._go(State.ERROR, now, "; ".join(self.lost[k] for k in sorted(self.lost)))
        return self._go(State.MUTED if self.muted else State.IDLE, now)

    def on_event(self, type: str, data: dict[str, Any], now: float) -> State | None:
        """Apply an event; returns the new state (or reason) when it changed."""
        if type in (DeviceLost.type, DeviceRestored.type):
            return self._on_device(type, data, now)
        if type in (Muted.type, Unmuted.type):
            self.muted = type == Muted.type
            if self.lost:
                return None  # still in error; the device's return lands in muted or idle
            return self._go(State.MUTED if self.muted else State.IDLE, now)
        if self.muted or self.lost:
            return None
        turn = data.get("turn", 0)
        if type == Wake.type:
            self.woken_from = self.state
            return self._go(State.LISTENING, now)
        if type == WakeArbitration.type:
            woken_from, self.woken_from = self.woken_from, None
            if data.get("won") or woken_from is None or self.state is not State.LISTENING:
                return None
            return self._go(woken_from, now)
        if type == Listening.type:
            return self._go(State.LISTENING, now)
        if type == SpeechStarted.type:
            self.turn = turn
            return self._go(State.LISTENING, now)
        if type in (SpeechStopped.type, SatelliteHeard.type):
            self.turn = turn
            return self._go(State.PROCESSING, now)
        if type == AudioStarted.type:
            return self._go(State.RESPONDING, now)
        if type == AudioStopped.type:
            return self._go(State.IDLE, now)
        if type in (NoSpeech.type, TurnAbandoned.type, SatelliteEnded.type):
            return self._go(State.IDLE, now)
        if type == Error.type:
            if data.get("fatal"):
                return self._go(State.ERROR, now)
            if turn and turn == self.turn and self.state is not State.IDLE:
                return self._go(State.IDLE, now)
        return None

    def tick(self, now: float) -> State | None:
        """Return to idle when the current state outlived its timeout."""
        if self.lost:
            return None
        limit = self.timeouts.get(self.state)
        if limit is not None and now - self.since >= limit:
            return self._go(State.IDLE, now)
        return None
