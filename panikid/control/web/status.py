"""What the surfaces show: a snapshot and Prometheus counters, kept from the event bus.

:class:`Status` is pure: feed it events (``on_event``), read ``snapshot()`` and
``prometheus()``. It never blocks and never grows without bound. The runtime
settings (mute, volume, sensitivity, backend) are not kept here: surfaces read
them from the control API, through the table in :mod:`panikid.control.settings`.
"""

from __future__ import annotations

from collections import Counter, deque
from typing import Any

from ...events import Event
from ...events.schema import Error, Interrupted, Reply, StateChanged, Transcript, TurnSummary, Wake

LATENCY_BUCKETS_MS = (250, 500, 1000, 1500, 2000, 3000, 5000, 10000)
RECENT_TURNS = 10


class Status:
    def __init__(self, started: float = 0.0) -> None:
        self.started = started
        self.state = "idle"
        self.last_transcript = ""
        self.last_reply = ""
        self.backend = ""
        self.turns: deque[dict[str, Any]] = deque(maxlen=RECENT_TURNS)
        self.counts: Counter[str] = Counter()
        self.backend_use: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.latency_buckets = [0] * len(LATENCY_BUCKETS_MS)
        self.latency_sum = 0.0
        self.latency_count = 0
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
            case Error(where=where):
                self.errors["unknown" if where is None else str(where)] += 1
            case TurnSummary() as turn:
                self._on_turn(turn, e.data)

    def _on_turn(self, turn: TurnSummary, fields: dict[str, Any]) -> None:
        self.turns.append({k: v for k, v in fields.items() if k not in ("type", "t")})  # as the event wrote it
        if turn.backend:
            self.backend_use[str(turn.backend)] += 1
        ms = turn.eos_to_first_audio_ms
        if isinstance(ms, (int, float)):
            self.latency_sum += ms
            self.latency_count += 1
            for i, bound in enumerate(LATENCY_BUCKETS_MS):
                if ms <= bound:
                    self.latency_buckets[i] += 1

    def attributes(self) -> dict[str, Any]:
        last = self.turns[-1] if self.turns else {}
        return {
            "last_transcript": self.last_transcript,
            "last_reply": self.last_reply,
            "backend": self.backend,
            "last_turn_latency_ms": last.get("eos_to_first_audio_ms"),
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
        lines = [
            "# HELP panikid_up The daemon is running.", "# TYPE panikid_up gauge", "panikid_up 1",
            "# HELP panikid_uptime_seconds Seconds since start.", "# TYPE panikid_uptime_seconds gauge",
            f"panikid_uptime_seconds {now - self.started:.1f}",
            "# HELP panikid_wake_total Wake words heard.", "# TYPE panikid_wake_total counter",
            f"panikid_wake_total {self.counts[Wake.type]}",
            "# HELP panikid_turns_total Completed turns.", "# TYPE panikid_turns_total counter",
            f"panikid_turns_total {self.counts[TurnSummary.type]}",
            "# HELP panikid_interruptions_total Replies cut short.", "# TYPE panikid_interruptions_total counter",
            f"panikid_interruptions_total {self.counts[Interrupted.type]}",
            "# HELP panikid_errors_total Errors, by where they happened.", "# TYPE panikid_errors_total counter",
        ]
        lines += [f'panikid_errors_total{{where="{_label(w)}"}} {n}' for w, n in sorted(self.errors.items())]
        lines += ["# HELP panikid_backend_turns_total Turns answered, by LLM backend.",
                  "# TYPE panikid_backend_turns_total counter"]
        lines += [f'panikid_backend_turns_total{{backend="{_label(b)}"}} {n}'
                  for b, n in sorted(self.backend_use.items())]
        lines += ["# HELP panikid_turn_latency_ms End of speech to first reply audio.",
                  "# TYPE panikid_turn_latency_ms histogram"]
        lines += [f'panikid_turn_latency_ms_bucket{{le="{b}"}} {n}'
                  for b, n in zip(LATENCY_BUCKETS_MS, self.latency_buckets, strict=True)]
        lines += [f'panikid_turn_latency_ms_bucket{{le="+Inf"}} {self.latency_count}',
                  f"panikid_turn_latency_ms_sum {self.latency_sum:.1f}",
                  f"panikid_turn_latency_ms_count {self.latency_count}",
                  "# HELP panikid_ws_dropped_total WebSocket clients disconnected for falling behind.",
                  "# TYPE panikid_ws_dropped_total counter", f"panikid_ws_dropped_total {dropped}",
                  "# HELP panikid_unencodable_total Values no encoder could take as they were (escaped instead).",
                  "# TYPE panikid_unencodable_total counter", f"panikid_unencodable_total {escaped}"]
        return "\n".join(lines) + "\n"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
