"""Follow-up mode, the pure policy: after the reply to a question, listen again without the wake word.

Fed every event in the order of the bus (after the state machine saw it), :meth:`FollowUpPolicy.on_event`
answers with the seconds to listen for when a follow-up window opens now: the reply of a turn that had a
transcript finished playing, was not interrupted, the assistant is not muted, and
``context.follow_up_seconds`` is above 0. The daemon then publishes ``listen`` (``follow_up: true``) and
queues a ``ListenFrame``. No clock, no I/O.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .schema import AudioStopped, Transcript, TurnAbandoned

OPEN_TURNS = 16
"""Turns remembered as asked and not yet answered (a few at most are open at once)."""


@dataclass
class FollowUpPolicy:
    seconds: float
    """How long a follow-up window listens (``context.follow_up_seconds``); 0 = off."""
    _asked: deque[int] = field(default_factory=lambda: deque(maxlen=OPEN_TURNS), init=False, repr=False)

    def on_event(self, type: str, data: Mapping[str, Any], muted: bool) -> float | None:
        """Feed one event; the seconds of the follow-up window to open now, or None."""
        turn = data.get("turn", 0)
        if type == Transcript.type and data.get("text"):
            self._asked.append(turn)
        elif type == TurnAbandoned.type:
            self._forget(turn)
        elif type == AudioStopped.type and self._forget(turn):
            if self.seconds > 0 and not data.get("interrupted") and not muted:
                return self.seconds
        return None

    def _forget(self, turn: int) -> bool:
        """Was ``turn`` asked? It is forgotten either way."""
        if turn in self._asked:
            self._asked.remove(turn)
            return True
        return False
