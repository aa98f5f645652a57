"""One event bus that feeds every surface (JSON lines, journal, MQTT, WebSocket).

Publishing never blocks: synchronous listeners must be cheap (the state machine,
turn metrics), and every asynchronous subscriber has a bounded queue. When a
subscriber falls behind, its newest events are dropped and counted, so a slow
consumer can never stall the pipeline.

What is published is defined in :mod:`panikid.events.schema`: one dataclass per
event type, ``bus.publish(Wake(model=..., score=..., stream_t=...))``. The bus
stamps it with ``t`` (seconds since start) and hands every surface an
:class:`Event`: the type, the time, the fields as they are written
(``data``) and the typed definition (``body``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, overload

from . import schema
from .codec import EventBody

log = logging.getLogger(__name__)

# Names of some event types, from the schema (the package uses the schema's classes).
READY = schema.Ready.type
STATE = schema.StateChanged.type
WAKE = schema.Wake.type
SPEECH_STARTED = schema.SpeechStarted.type
SPEECH_STOPPED = schema.SpeechStopped.type
TRANSCRIPT = schema.Transcript.type
REPLY = schema.Reply.type
AUDIO_STARTED = schema.AudioStarted.type
AUDIO_STOPPED = schema.AudioStopped.type
TURN = schema.TurnSummary.type
ERROR = schema.Error.type
INTERRUPTED = schema.Interrupted.type
NO_SPEECH = schema.NoSpeech.type
TURN_ABANDONED = schema.TurnAbandoned.type
UNHANDLED = schema.Unhandled.type
TTS_STARTED = schema.TtsStarted.type
CUE = schema.CuePlayed.type


@dataclass(frozen=True)
class Event:
    """One published event: its type, its time on the bus clock, and its fields."""

    type: str
    t: float
    data: dict[str, Any] = field(default_factory=dict)
    body: EventBody | None = field(default=None, compare=False, repr=False)
    """The typed event (its schema definition); for an event built from a type and a dict,
    read from the dict leniently; None when the type is not in the schema."""

    def __post_init__(self) -> None:
        if self.body is None:
            object.__setattr__(self, "body", schema.read(self.type, self.data))
        elif self.body.type != self.type:
            raise ValueError(f"an event of type {self.type!r} cannot carry a {self.body.type!r} event")

    def to_dict(self) -> dict[str, Any]:
        # "type" and "t" are the contract of every line: a data key of the same
        # name (a frame's stream time ``t``, say) must not overwrite them.
        rest = {k: v for k, v in self.data.items() if k not in ("type", "t")}
        return {"type": self.type, "t": round(self.t, 3), **rest}

    def to_json(self, ascii_only: bool = False) -> str:
        """One JSON line; always encodable as UTF-8 (as ASCII with ``ascii_only``), and never raises."""
        try:
            return dumps(self.to_dict(), ascii_only)
        except (TypeError, ValueError, RecursionError) as exc:  # a non-string key, a cycle
            unencodable.count += 1
            return dumps({"type": self.type, "t": round(self.t, 3), "unserializable": type(exc).__name__})


@dataclass
class _Count:
    count: int = 0


unencodable = _Count()
"""Values that could not be written as they were (lone surrogates escaped, unserializable events)."""
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def encodable(text: str) -> str:
    """``text`` with any lone surrogate (which no UTF-8 encoder takes) written as ``\\udxxx``."""
    if _SURROGATE.search(text) is None:
        return text
    unencodable.count += 1
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def dumps(obj: Any, ascii_only: bool = False) -> str:
    """JSON text for a surface, always encodable. Outside its strings ``json.dumps`` writes
    ASCII only, so a lone surrogate is inside a string, where ``\\udxxx`` is JSON's own escape
    for it: the text stays valid JSON and means the same."""
    return encodable(json.dumps(obj, ensure_ascii=ascii_only, default=str))


class Subscription:
    """A bounded queue of events for one asynchronous consumer."""

    def __init__(self, bus: EventBus, maxsize: int) -> None:
        self._bus = bus
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue(maxsize)
        self.dropped = 0

    def offer(self, event: Event) -> None:
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped += 1

    async def get(self) -> Event | None:
        """Next event, or None once the subscription was closed."""
        return await self._queue.get()

    def close(self) -> None:
        self._bus._unsubscribe(self)
        # Wake a waiting consumer even when the queue is full.
        while True:
            try:
                self._queue.put_nowait(None)
                return
            except asyncio.QueueFull:
                self._queue.get_nowait()


class EventBus:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._t0 = clock()
        self._listeners: list[Callable[[Event], None]] = []
        self._subs: list[Subscription] = []
        self.history_limit = 200
        self.history: list[Event] = []

    def now(self) -> float:
        """Seconds since the bus (the daemon) started."""
        return self._clock() - self._t0

    @overload
    def publish(self, event: EventBody, /) -> Event: ...

    @overload
    def publish(self, event: str, /, **data: Any) -> Event: ...

    def publish(self, event: EventBody | str, /, **data: Any) -> Event:
        """Publish an event of the schema: ``bus.publish(Wake(model=..., score=..., stream_t=...))``.

        The untyped form, a type name and its fields (``bus.publish("wake", model=...)``), is
        for tests and tools that make up events; the package itself always publishes the schema's.
        """
        if isinstance(event, EventBody):
            if data:
                raise TypeError(f"publish: the fields of a {event.type!r} event go in its definition")
            return self._deliver(Event(event.type, self.now(), event.data(), event))
        return self._deliver(Event(event, self.now(), data))

    def _deliver(self, event: Event) -> Event:
        self.history.append(event)
        if len(self.history) > self.history_limit:
            del self.history[: len(self.history) - self.history_limit]
        # Subscribers first: events a listener derives from this one (a state
        # change, a turn summary) then follow it in every stream.
        for sub in list(self._subs):
            sub.offer(event)
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:  # a broken listener must not break the others
                log.exception("event listener failed on %s", event.type)
        return event

    def listen(self, callback: Callable[[Event], None]) -> None:
        """Call ``callback`` synchronously for every event (keep it cheap)."""
        self._listeners.append(callback)

    def subscribe(self, maxsize: int = 1000) -> Subscription:
        if maxsize < 1:  # asyncio.Queue(0) would be unbounded
            raise ValueError(f"subscribe: maxsize must be at least 1, got {maxsize}")
        sub = Subscription(self, maxsize)
        self._subs.append(sub)
        return sub

    def _unsubscribe(self, sub: Subscription) -> None:
        if sub in self._subs:
            self._subs.remove(sub)

    def of_type(self, type: str) -> list[Event]:
        return [e for e in self.history if e.type == type]
