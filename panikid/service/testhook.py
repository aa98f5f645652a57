"""A test-only hook that stalls the pipeline, so the watchdog can be seen to fire.

``PANIKID_TEST_STALL_AFTER=<seconds>`` (set by tests, never in a real install):
that long after the daemon is ready, the wake word processor's worker thread
blocks inside its model call, as a hung inference would. Audio stops reaching
the rest of the pipeline while the event loop stays responsive, which is the
failure the watchdog must catch. The block is released on stop (and after
``STALL_LIMIT`` at the latest) so the process can still exit.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

log = logging.getLogger(__name__)

ENV = "PANIKID_TEST_STALL_AFTER"
STALL_LIMIT = 600.0


class StallHook:
    def __init__(self, after_seconds: float) -> None:
        self.after = after_seconds
        self.release = threading.Event()
        self.stalled = False

    @classmethod
    def from_env(cls) -> StallHook | None:
        text = os.environ.get(ENV, "")
        if not text:
            return None
        try:
            return cls(float(text))
        except ValueError:
            log.error("%s=%r is not a number of seconds; ignored", ENV, text)
            return None

    def install(self, wake: Any) -> None:
        """Wrap ``wake._score`` (runs in the wake processor's worker thread)."""
        original = wake._score
        deadline = time.monotonic() + self.after

        def stalling_score(pcm: bytes) -> Any:
            if time.monotonic() >= deadline and not self.stalled:
                self.stalled = True
                log.warning("test hook %s: the wake word worker stalls now", ENV)
                self.release.wait(STALL_LIMIT)
            return original(pcm)

        wake._score = stalling_score
        log.warning("test hook %s=%s is active: the pipeline will stall", ENV, self.after)
