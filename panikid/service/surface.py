"""The systemd surface: readiness, status, watchdog keep-alives and stopping.

- ``READY=1`` (with a ``STATUS=``) once the daemon published ``ready``: models
  loaded and audio flowing, so ``systemctl start`` returns when it can hear.
- ``STATUS=`` on every state change (loading models, listening, muted, error: ...).
- ``WATCHDOG=1`` at a third of ``$WATCHDOG_USEC``, only while the pipeline is
  alive (see watchdog.py): a hung pipeline gets the service restarted.
- ``STOPPING=1`` when the daemon stops.

It also writes the events to the log (the journal under systemd) with the
structured fields TURN=, STATE= and BACKEND=.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any, Protocol

from ..events import schema
from ..events.schema import DeviceLost, DeviceRestored, Error, Ready, StateChanged
from .notify import Notifier, watchdog_seconds
from .watchdog import WatchdogPolicy, decide, ping_interval

if TYPE_CHECKING:
    from ..events import Event, EventBus

log = logging.getLogger(__name__)
event_log = logging.getLogger("panikid.events")

STATUS_BY_STATE = {
    "idle": "listening for the wake word",
    "listening": "listening to a command",
    "processing": "thinking",
    "responding": "answering",
    "muted": "muted",
}


class Watched(Protocol):
    """What this surface reads of the control API (panikid.control.api.ControlApi, which the daemon
    implements): the events, and the input's sign of life."""

    @property
    def bus(self) -> EventBus: ...

    def last_audio(self) -> float | None: ...


def status_for(e: Event) -> str | None:
    """The STATUS= text an event calls for, or None."""
    match e.body:  # (the None checks are for events built by hand, which may lack a field)
        case StateChanged(state=state, reason=reason):
            state = "" if state is None else str(state)
            why = "see the journal" if reason is None else reason
            return STATUS_BY_STATE.get(state, f"error: {why}" if state == "error" else state)
        case Error(where=where, message=message):
            return f"error: {'?' if where is None else where}: {'' if message is None else message}"
    return None


def log_fields(e: Event) -> dict[str, Any]:
    """The journal fields of an event (TURN=, STATE=, BACKEND=), from its fields as written."""
    fields: dict[str, Any] = {"EVENT": e.type}
    if "turn" in e.data:
        fields["TURN"] = e.data["turn"]
    if isinstance(e.body, StateChanged):
        fields["STATE"] = e.body.state
    if "backend" in e.data:
        fields["BACKEND"] = e.data["backend"]
    return fields


class SystemdSurface:
    def __init__(self, watchdog: bool = True, policy: WatchdogPolicy | None = None,
                 notifier: Notifier | None = None) -> None:
        self.notifier = notifier or Notifier()
        self.watchdog_enabled = watchdog
        self.policy = policy or WatchdogPolicy()
        self.ready = False
        self.lost: dict[str, str] = {}
        """The lost audio devices (device_lost, not yet device_restored): their loss is no stall."""
        self.pings = 0
        self.control: Watched | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._sub: Any = None
        self._last_verdict = ""

    async def start(self, control: Watched) -> None:
        self.control = control
        self._sub = control.bus.subscribe(maxsize=1000)
        self.notifier.notify(STATUS="loading models")
        self._tasks.append(asyncio.create_task(self._follow_events()))
        interval = watchdog_seconds(self.notifier.environ)
        if self.watchdog_enabled and interval and self.notifier.enabled:
            log.info("watchdog: %.1f s, keep-alive every %.1f s", interval, ping_interval(interval))
            self._tasks.append(asyncio.create_task(self._keep_alive(ping_interval(interval))))

    async def stop(self) -> None:
        self.notifier.notify(STOPPING="1", STATUS="stopping")
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        if self._sub is not None:
            self._sub.close()

    # ------------------------------------------------------------------ events
    async def _follow_events(self) -> None:
        assert self._sub is not None
        while (e := await self._sub.get()) is not None:
            self._log_event(e)
            if isinstance(e.body, Ready):
                self.ready = True
                loaded = e.body.load_seconds
                took = f" (models loaded in {sum(loaded.values()):.1f} s)" if isinstance(loaded, dict) else ""
                self.notifier.notify(READY="1", STATUS=f"ready, listening for the wake word{took}")
                continue
            if isinstance(e.body, DeviceLost):
                self.lost[e.body.kind] = e.body.message
            elif isinstance(e.body, DeviceRestored):
                self.lost.pop(e.body.kind, None)
            status = status_for(e)
            if status is not None and (self.ready or isinstance(e.body, Error)):
                self.notifier.notify(STATUS=status)

    def _log_event(self, e: Event) -> None:
        definition = schema.definition(e.type)
        level = definition.log_level if definition is not None else logging.INFO
        detail = " ".join(f"{k}={v}" for k, v in e.data.items() if k not in ("text",))
        event_log.log(level, "%s %s", e.type, detail, extra=log_fields(e))

    # ------------------------------------------------------------------ watchdog
    def _last_audio(self) -> float | None:
        return self.control.last_audio() if self.control is not None else None

    async def _keep_alive(self, every: float) -> None:
        scheduled = time.monotonic()
        while True:
            verdict = decide(time.monotonic(), scheduled=scheduled, ready=self.ready,
                             last_audio=self._last_audio(), policy=self.policy,
                             lost="; ".join(self.lost[k] for k in sorted(self.lost)) or None)
            if verdict.alive:
                if self.notifier.notify(WATCHDOG="1"):
                    self.pings += 1
            if verdict.reason != self._last_verdict:
                (log.info if verdict.alive else log.error)("watchdog: %s", verdict.reason)
                if not verdict.alive:
                    self.notifier.notify(STATUS=f"error: {verdict.reason}")
                self._last_verdict = verdict.reason
            scheduled = time.monotonic() + every
            await asyncio.sleep(every)
