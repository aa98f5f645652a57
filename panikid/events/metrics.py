"""Per-turn latency figures, assembled from the event stream into one ``turn`` event.

speech_end_to_first_audio_ms: from the end of the user's last voiced audio
(``speech_stopped.speech_end_t``, stream time placed on the event clock) to
the first reply audio reaching the output: the wait the user hears.
eos_to_first_audio_ms: from the moment the end of speech was decided
(``speech_stopped``) to the first reply audio reaching the output.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from . import Event, EventBus
from .schema import (
    AudioStarted,
    AudioStopped,
    Reply,
    SpeechStopped,
    Transcript,
    TtsStarted,
    TurnAbandoned,
    TurnSummary,
)

MAX_OPEN_TURNS = 32
"""Turns being assembled at once; older ones (that never played a reply) are forgotten."""


@dataclass
class _Turn:
    eos_t: float | None = None
    speech_end_t: float | None = None
    fields: dict[str, Any] = field(default_factory=dict)


class TurnMetrics:
    def __init__(self, bus: EventBus) -> None:
        self.bus = bus
        self._turns: dict[int, _Turn] = {}
        self.completed: deque[dict[str, Any]] = deque(maxlen=100)
        """The last turns' figures (bounded: a daemon runs for months)."""
        bus.listen(self._on_event)

    def _on_event(self, e: Event) -> None:
        body = e.body
        turn_id = getattr(body, "turn", None)
        if not turn_id:
            return
        if isinstance(body, TurnAbandoned):
            self._turns.pop(turn_id, None)
            return
        if turn_id not in self._turns and len(self._turns) >= MAX_OPEN_TURNS:
            del self._turns[next(iter(self._turns))]
        turn = self._turns.setdefault(turn_id, _Turn())
        f = turn.fields
        match body:
            case SpeechStopped(speech_end_t=end):
                turn.eos_t = e.t
                turn.speech_end_t = end if isinstance(end, (int, float)) else None
            case Transcript(stt_ms=stt_ms, engine=engine):
                f["stt_ms"] = stt_ms
                f["stt_engine"] = engine
            case Reply():
                f["llm_ttft_ms"] = body.llm_ttft_ms
                f["backend"] = body.backend
                f["fallback_reason"] = body.fallback_reason
            case TtsStarted(tts_ttfb_ms=ms, engine=engine):
                f["tts_ttfb_ms"] = ms
                f["tts_engine"] = engine
            case AudioStarted() if turn.eos_t is not None:
                f["eos_to_first_audio_ms"] = round((e.t - turn.eos_t) * 1000, 1)
                if turn.speech_end_t is not None:
                    f["speech_end_to_first_audio_ms"] = round((e.t - turn.speech_end_t) * 1000, 1)
            case AudioStopped(interrupted=interrupted):
                self._turns.pop(turn_id, None)
                record = TurnSummary(
                    turn=turn_id,
                    speech_end_to_first_audio_ms=f.get("speech_end_to_first_audio_ms"),
                    eos_to_first_audio_ms=f.get("eos_to_first_audio_ms"),
                    stt_ms=f.get("stt_ms"),
                    llm_ttft_ms=f.get("llm_ttft_ms"),
                    tts_ttfb_ms=f.get("tts_ttfb_ms"),
                    backend=f.get("backend"),
                    fallback_reason=f.get("fallback_reason"),
                    interrupted=bool(interrupted),
                    stt_engine=f.get("stt_engine"),
                    tts_engine=f.get("tts_engine"),
                )
                self.completed.append(record.data())
                self.bus.publish(record)
