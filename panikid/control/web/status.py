"""What the surfaces show: a snapshot and Prometheus counters, kept from the event bus.

:class:`Status` is pure: feed it events (``on_event``), read ``snapshot()`` and
``prometheus()``. It never blocks and never grows without bound. The runtime
settings (mute, volume, sensitivity, backend) are not kept here: surfaces read
them from the control API, through the table in :mod:`panikid.control.settings`.
"""

from __future__ import annotations

from collections import Counter, deque
from typing import Any

from ... import __version__
from ...events import Event
from ...events.schema import (
    Error,
    IntentHandled,
    Interrupted,
    Reply,
    StateChanged,
    TimerFinished,
    Transcript,
    TurnSummary,
    Wake,
)
from ...events.state import State
from .prometheus import Histogram, label, metric, process_lines

LATENCY_BUCKETS = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)
"""Seconds from the end of speech to the first reply audio: around the targets (0.5-1.5 s)."""
STAGE_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0)
RECENT_TURNS = 10


class Status:
    def __init__(self, started: float = 0.0) -> None:
        self.started = started
        self.state = "idle"
        self.last_transcript = ""
        self.last_reply = ""
        self.backend = ""
        self.running_timers = 0
        self.turns: deque[dict[str, Any]] = deque(maxlen=RECENT_TURNS)
        self.counts: Counter[str] = Counter()
        self.backend_use: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.latency = Histogram("panikid_turn_latency_seconds",
                                 "From the end of the user's speech to the first reply audio.", LATENCY_BUCKETS)
        self.stages = {
            "stt_ms": Histogram("panikid_stt_seconds", "Speech-to-text time of a turn.", STAGE_BUCKETS),
            "llm_ttft_ms": Histogram("panikid_llm_first_token_seconds",
                                     "From the transcript to the reply's first token (local or cloud model).",
                                     STAGE_BUCKETS),
            "tts_ttfb_ms": Histogram("panikid_tts_first_audio_seconds",
                                     "Text-to-speech time to the reply's first audio.", STAGE_BUCKETS),
        }
        self.last_t = 0.0

    def on_event(self, e: Event) -> None:
        self.last_t = e.t
        self.counts[e.type] += 1
        match e.body:  # (the None checks are for events built by hand, which may lack a field)
            case StateChanged(state=state) if state is not None:
                self.state = str(state)
            case Transcript(text=text):
                self.last_transcript = "" if text is None else str(text)
            case Reply(text=text, backend=backend):
                self.last_reply = "" if text is None else str(text)
                self.backend = "" if backend is None else str(backend)
            case IntentHandled(timers=timers) | TimerFinished(timers=timers) if isinstance(timers, int):
                self.running_timers = timers
            case Error(where=where):
                self.errors["unknown" if where is None else str(where)] += 1
            case TurnSummary() as turn:
                self._on_turn(turn, e.data)

    def _on_turn(self, turn: TurnSummary, fields: dict[str, Any]) -> None:
        self.turns.append({k: v for k, v in fields.items() if k not in ("type", "t")})  # as the event wrote it
        if turn.backend:
            self.backend_use[str(turn.backend)] += 1
        ms = turn.speech_end_to_first_audio_ms
        if not isinstance(ms, (int, float)):
            ms = turn.eos_to_first_audio_ms  # (no voiced end known: from the end-of-speech decision)
        if isinstance(ms, (int, float)):
            self.latency.observe(ms / 1000)
        for key, histogram in self.stages.items():
            value = fields.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                histogram.observe(value / 1000)

    def attributes(self) -> dict[str, Any]:
        last = self.turns[-1] if self.turns else {}
        return {
            "last_transcript": self.last_transcript,
            "last_reply": self.last_reply,
            "backend": self.backend,
            "last_turn_latency_ms": last.get("eos_to_first_audio_ms"),
            "running_timers": self.running_timers,
        }

    def snapshot(self, now: float, settings: dict[str, Any] | None = None) -> dict[str, Any]:
        """What a new WebSocket client is sent first; ``settings``: the runtime settings as shown
        (:func:`panikid.control.settings.snapshot`)."""
        return {
            "state": self.state,
            "uptime": round(now - self.started, 1),
            **self.attributes(),
            **(settings or {}),
            "turns": list(self.turns),
        }

    def prometheus(self, now: float, dropped: int = 0, escaped: int = 0) -> str:
        lines = metric("panikid_build_info", "gauge", "The running version (always 1).",
                       [f'panikid_build_info{{version="{label(__version__)}"}} 1'])
        lines += metric("panikid_up", "gauge", "The daemon is running.", ["panikid_up 1"])
        lines += metric("panikid_uptime_seconds", "gauge", "Seconds since start.",
                        [f"panikid_uptime_seconds {now - self.started:.1f}"])
        lines += metric("panikid_state", "gauge", "The assistant's state (1 for the current one).",
                        [f'panikid_state{{state="{s.value}"}} {int(s.value == self.state)}' for s in State])
        lines += metric("panikid_wake_total", "counter", "Wake words heard.",
                        [f"panikid_wake_total {self.counts[Wake.type]}"])
        lines += metric("panikid_turns_total", "counter", "Completed turns.",
                        [f"panikid_turns_total {self.counts[TurnSummary.type]}"])
        lines += metric("panikid_interruptions_total", "counter", "Replies cut short.",
                        [f"panikid_interruptions_total {self.counts[Interrupted.type]}"])
        lines += metric("panikid_errors_total", "counter", "Errors, by where they happened.",
                        [f'panikid_errors_total{{where="{label(w)}"}} {n}' for w, n in sorted(self.errors.items())])
        lines += metric("panikid_backend_turns_total", "counter", "Turns answered, by LLM backend.",
                        [f'panikid_backend_turns_total{{backend="{label(b)}"}} {n}'
                         for b, n in sorted(self.backend_use.items())])
        lines += self.latency.lines()
        for histogram in self.stages.values():
            lines += histogram.lines()
        lines += metric("panikid_ws_dropped_total", "counter", "WebSocket clients disconnected for falling behind.",
                        [f"panikid_ws_dropped_total {dropped}"])
        lines += metric("panikid_unencodable_total", "counter",
                        "Values no encoder could take as they were (escaped instead).",
                        [f"panikid_unencodable_total {escaped}"])
        lines += process_lines()
        return "\n".join(lines) + "\n"
