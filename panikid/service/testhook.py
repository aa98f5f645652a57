"""A test-only hook that stalls the pipeline, so the watchdog can be seen to fire.

``PANIKID_TEST_STALL_AFTER=<seconds>`` (set by tests, never in a real install):
that long after the daemon is ready, the wake word processor's worker thread
blocks inside its model call, as a hung inference would. Audio stops reaching
the rest of the pipeline while the event loop stays responsive, which is the
failure the watchdog must catch. The block is released on stop (and after
``STALL_LIMIT`` at the latest) so the process can still exit.

The daemon wraps the wake word engines with :meth:`StallHook.wrap` when it
builds the pipeline, arms the hook once it is ready and releases it when it
stops; nothing reaches into the processor.
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
        self._deadline = float("inf")

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

    def arm(self) -> None:
        """Start counting: the stall comes ``after`` seconds from now (the daemon is ready)."""
        self._deadline = time.monotonic() + self.after
        log.warning("test hook %s=%s is active: the pipeline will stall", ENV, self.after)

    def wrap(self, engine: Any) -> Any:
        """``engine`` (a wake word engine) whose ``process`` blocks once the time has come."""
        return _StallingEngine(engine, self)

    def _maybe_stall(self) -> None:  # in the wake word processor's worker thread
        if time.monotonic() >= self._deadline and not self.stalled:
            self.stalled = True
            log.warning("test hook %s: the wake word worker stalls now", ENV)
            self.release.wait(STALL_LIMIT)


class _StallingEngine:
    """A wake word engine that stalls in its model call when its hook says so; otherwise the engine itself."""

    def __init__(self, engine: Any, hook: StallHook) -> None:
        self._engine = engine
        self._hook = hook

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)

    def process(self, pcm: bytes) -> Any:
        self._hook._maybe_stall()
        return self._engine.process(pcm)
