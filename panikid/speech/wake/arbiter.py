"""Wake arbitration through a shared channel (the MQTT broker): the nearest device answers, the others not.

A device that hears the wake word publishes its claim (:class:`~.arbitration.Claim`: device id, the
level it heard the phrase at, its score, the wall time) on the group's topic, and keeps listening to
that topic all along, so it also knows the claims made just before its own. After ``window_seconds`` it
decides (:func:`~.arbitration.decide`) with the claims made within the window of its own; each device
does the same with the same numbers, so they agree. A claim that comes after the decision is not
counted (it belongs to no wake word of this device any more).

When the channel is not connected (the broker is down, or not reached yet) the device does not wait:
it answers alone at once, as it would without arbitration.

The channel is anything with ``connected()`` and ``publish(payload)``; incoming messages are handed
to ``on_message`` on the event loop. The MQTT surface provides it (``MqttSurface.arbitration_channel``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

from ...audio.level import FLOOR_DBFS
from ...events.schema import WakeArbitration
from .arbitration import Claim, ClaimError, Decision, decide

log = logging.getLogger(__name__)

KEEP_CLAIMS = 64
"""Claims of the others kept (the newest); far more than the devices of one home."""


class ClaimChannel(Protocol):
    """Where the claims of a group are shared."""

    def connected(self) -> bool: ...

    def publish(self, payload: str) -> None:
        """Send a claim to every device of the group (raises when it cannot)."""
        ...


class WakeArbiter:
    """Decides, for each wake word this device hears, whether it answers."""

    def __init__(self, device_id: str, channel: ClaimChannel, window_seconds: float = 0.2,
                 clock: Callable[[], float] = time.time) -> None:
        self.device_id = device_id
        self.channel = channel
        self.window_seconds = window_seconds
        self.clock = clock
        """The wall clock: claims of different devices are compared by it."""
        self._seen: deque[Claim] = deque(maxlen=KEEP_CLAIMS)
        self.ignored = 0
        """Messages on the topic that were no claim."""

    def on_message(self, payload: bytes) -> None:
        """A message on the group's topic (on the event loop)."""
        try:
            claim = Claim.from_json(payload)
        except ClaimError as exc:
            self.ignored += 1
            log.warning("wake arbitration: ignored a message that is no claim: %s", exc)
            return
        if claim.device_id != self.device_id:
            self._seen.append(claim)

    async def arbitrate(self, level_dbfs: float | None, score: float) -> tuple[Decision, bool]:
        """(the decision, whether it was made alone: without the others, at once)."""
        level = level_dbfs if level_dbfs is not None else FLOOR_DBFS
        mine = Claim.make(self.device_id, level, score, self.clock())
        if not self.channel.connected():
            return Decision(self.device_id, True, (mine,)), True
        try:
            self.channel.publish(mine.to_json())
        except Exception as exc:  # the connection went just now: as if it were down
            log.warning("wake arbitration: the claim could not be sent (%s): answering alone", exc)
            return Decision(self.device_id, True, (mine,)), True
        await asyncio.sleep(self.window_seconds)
        return decide(mine, list(self._seen), self.window_seconds), False


def arbitration_event(decision: Decision, level_dbfs: float | None, alone: bool) -> WakeArbitration:
    """What a decision publishes."""
    return WakeArbitration(won=decision.won, winner=decision.winner,
                           level_dbfs=None if level_dbfs is None else round(level_dbfs, 2),
                           levels=decision.levels, apart_ms=round(decision.apart_seconds * 1000, 1),
                           alone=alone)
