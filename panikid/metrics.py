"""Per-turn latency figures, assembled from the event stream into one ``turn`` event.

eos_to_first_audio_ms: from the moment the end of speech was decided
(``speech_stopped``) to the first reply audio reaching the output.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import events as ev
from .events import Event, EventBus
from .tts import TTS_STARTED


@dataclass
class _Turn:
    eos_t: float | None = None
    fields: dict[str, Any] = field(default_factory=dict)


class TurnMetrics:
    def __init__(self, bus: EventBus) -> None:
        self.bus = bus
        self._turns: dict[int, _Turn] = {}
        self.completed: list[dict[str, Any]] = []
        bus.listen(self._on_event)

    def _on_event(self, e: Event) -> None:
        turn_id = e.data.get("turn")
        if not turn_id:
            return
        turn = self._turns.setdefault(turn_id, _Turn())
        f = turn.fields
        if e.type == ev.SPEECH_STOPPED:
            turn.eos_t = e.t
        elif e.type == ev.TRANSCRIPT:
            f["stt_ms"] = e.data.get("stt_ms")
        elif e.type == ev.REPLY:
            f["llm_ttft_ms"] = e.data.get("llm_ttft_ms")
            f["backend"] = e.data.get("backend")
            f["fallback_reason"] = e.data.get("fallback_reason")
        elif e.type == TTS_STARTED:
            f["tts_ttfb_ms"] = e.data.get("tts_ttfb_ms")
        elif e.type == ev.AUDIO_STARTED and turn.eos_t is not None:
            f["eos_to_first_audio_ms"] = round((e.t - turn.eos_t) * 1000, 1)
        elif e.type == ev.AUDIO_STOPPED:
            self._turns.pop(turn_id, None)
            record = {
                "turn": turn_id,
                "eos_to_first_audio_ms": f.get("eos_to_first_audio_ms"),
                "stt_ms": f.get("stt_ms"),
                "llm_ttft_ms": f.get("llm_ttft_ms"),
                "tts_ttfb_ms": f.get("tts_ttfb_ms"),
                "backend": f.get("backend"),
                "fallback_reason": f.get("fallback_reason"),
                "interrupted": bool(e.data.get("interrupted", False)),
            }
            self.completed.append(record)
            self.bus.publish(ev.TURN, **record)
