"""The events of the Home Assistant satellite (panikid.satellite): its connection and the turns Home
Assistant answers. Registered with the others in :data:`panikid.events.schema.EVENTS`."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import ClassVar

from .codec import EventBody, optional


@dataclass(frozen=True, kw_only=True)
class SatelliteStatus(EventBody):
    """Home Assistant connected to the satellite, started it (``running``: wake words go to it), paused
    it, or went away (``disconnected``: panikid answers itself again); a refused peer is ``refused``."""

    type: ClassVar[str] = "satellite"
    status: str  # connected, running, paused, disconnected, refused
    peer: str  # address:port of the connection
    reason: str | None = optional()  # why a peer was refused, or a connection lost


@dataclass(frozen=True, kw_only=True)
class SatelliteTurn(EventBody):
    """A wake word went to Home Assistant: its Assist pipeline answers this turn, not panikid."""

    type: ClassVar[str] = "satellite_turn"
    turn: int
    model: str  # the wake word heard
    peer: str


@dataclass(frozen=True, kw_only=True)
class SatelliteHeard(EventBody):
    """What Home Assistant's speech-to-text heard in a satellite turn."""

    type: ClassVar[str] = "satellite_heard"
    turn: int
    text: str


@dataclass(frozen=True, kw_only=True)
class SatelliteReply(EventBody):
    """What Home Assistant is about to say (a turn's reply, or an announcement when ``turn`` is new)."""

    type: ClassVar[str] = "satellite_reply"
    turn: int
    text: str


@dataclass(frozen=True, kw_only=True)
class SatelliteEnded(EventBody):
    """A satellite turn ended without a reply: Home Assistant reported an error (nothing understood,
    no pipeline), the command ran past satellite.max_listen_seconds unanswered, or the connection went."""

    type: ClassVar[str] = "satellite_ended"
    log_level: ClassVar[int] = logging.WARNING
    turn: int
    reason: str  # error, disconnected, timeout, paused
    code: str | None = optional()  # Home Assistant's error code, e.g. stt-no-text-recognized
    message: str | None = optional()


@dataclass(frozen=True, kw_only=True)
class SatelliteTimer(EventBody):
    """One of Home Assistant's timers for this satellite started, changed, was cancelled or rang
    (``finished``: panikid says so aloud)."""

    type: ClassVar[str] = "satellite_timer"
    timer: str  # Home Assistant's id of it
    status: str  # started, updated, cancelled, finished
    seconds: int | None = optional()  # its length
    name: str | None = optional()  # the name it was given ("pasta")


SATELLITE_EVENTS: tuple[type[EventBody], ...] = (SatelliteStatus, SatelliteTurn, SatelliteHeard, SatelliteReply,
                                                  SatelliteEnded, SatelliteTimer)
