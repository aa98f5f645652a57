"""When to ask a remote speech server and when to use the local engine instead (pure: the caller passes the time).

A remote speech-to-text or text-to-speech server (Wyoming, on a bigger box on the LAN) answers within a
deadline or the local engine answers instead, as the LLM router does with a slow or dead cloud. A server
that failed is then skipped for a while, so the next turns do not each pay the deadline again: after the
first failure for ``RETRY_SECONDS``, and twice as long after each further failure in a row, up to
``MAX_RETRY_SECONDS``. Once that time has passed one call goes out as a probe; its success brings the
server back for every call, its failure skips it for the next, longer while.

The speech processors call an engine from one worker thread at a time, so a policy is never used by two
threads at once.
"""

from __future__ import annotations

from dataclasses import dataclass

RETRY_SECONDS = 10.0
"""How long a server that just failed is skipped."""
MAX_RETRY_SECONDS = 300.0
"""The longest a failing server is skipped before it is tried again."""

REMOTE = "wyoming"
"""The name the events give a Wyoming server's answer (``stt_engine``, ``tts_engine``)."""


@dataclass
class RemotePolicy:
    """Whether the remote server is worth asking now, from its recent failures."""

    retry_seconds: float = RETRY_SECONDS
    max_retry_seconds: float = MAX_RETRY_SECONDS
    failures: int = 0
    """Failures in a row (0: the server answers)."""
    retry_at: float = 0.0
    """Before this time the server is skipped."""

    def use_remote(self, now: float) -> bool:
        """Ask the server at ``now``? False while it is skipped after a failure."""
        return now >= self.retry_at

    def skipped_for(self, now: float) -> float:
        """Seconds until the server is tried again (0: it is not skipped)."""
        return max(0.0, self.retry_at - now)

    def record_success(self, now: float) -> None:
        self.failures = 0
        self.retry_at = 0.0

    def record_failure(self, now: float) -> float:
        """The server failed at ``now``; returns how long it is now skipped."""
        self.failures += 1
        wait = min(self.max_retry_seconds, self.retry_seconds * 2 ** (self.failures - 1))
        self.retry_at = now + wait
        return wait
