"""The watchdog's decision, pure: is the daemon alive enough to pet the watchdog?

Alive means the event loop is responsive (the keep-alive task woke up close to
when it asked to) and, once the daemon is ready, audio frames arrived recently,
unless the daemon knows why they do not: an audio device is lost and is being
looked for (``device_lost``), which a restart would not mend.
Nothing here reads a clock: every time is an argument.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Verdict:
    alive: bool
    reason: str


@dataclass(frozen=True)
class WatchdogPolicy:
    audio_timeout: float = 5.0
    """Seconds without an audio frame after which the pipeline counts as stalled."""
    max_loop_lag: float = 2.0
    """A keep-alive tick this late means the event loop was blocked."""


def ping_interval(watchdog_seconds: float) -> float:
    """Keep-alives go out at a third of the interval: well under half, as systemd advises."""
    return watchdog_seconds / 3.0


def decide(now: float, *, scheduled: float, ready: bool, last_audio: float | None,
           policy: WatchdogPolicy = WatchdogPolicy(), lost: str | None = None) -> Verdict:
    """``scheduled``: when this tick was due; ``last_audio``: time of the last audio frame (None: none yet);
    ``lost``: what the lost audio devices are, while they are looked for."""
    lag = now - scheduled
    if lag > policy.max_loop_lag:
        return Verdict(False, f"event loop blocked for {lag:.1f} s")
    if not ready:
        return Verdict(True, "starting")
    if lost:
        return Verdict(True, f"waiting for a lost audio device: {lost}")
    if last_audio is None:
        return Verdict(False, "no audio frame has arrived")
    silent_for = now - last_audio
    if silent_for > policy.audio_timeout:
        return Verdict(False, f"no audio frame for {silent_for:.1f} s")
    return Verdict(True, "audio flowing")
