"""What happened to each item, from its attributed events (pure).

A positive item is a *wake* when exactly one wake word was detected in its span,
and a *turn success* when its turns produced exactly one transcript whose WER
against the command is at most ``SUCCESS_WER`` and, for an instant intent, that
turn ran the right intent (a question must not trigger one). A turn is
*abandoned* when it ended with ``turn_abandoned`` or ``no_speech`` and no reply.
"""

from __future__ import annotations

from typing import Any

from ..events.schema import (
    IntentHandled,
    NoSpeech,
    Reply,
    SpeechStarted,
    SpeechStopped,
    Transcript,
    TurnAbandoned,
    TurnSummary,
    Unhandled,
)
from .score import Attributed, command_wer, wer

SUCCESS_WER = 0.2
ABANDON_TYPES = (TurnAbandoned.type, NoSpeech.type)


def _first(events: list[dict[str, Any]], kind: str) -> dict[str, Any] | None:
    return next((e for e in events if e.get("type") == kind), None)


def _latency(events: list[dict[str, Any]]) -> tuple[float | None, str | None]:
    """The latency people feel when the daemon reports it, else the one from the endpoint decision.

    The last ``turn`` event with a figure counts: a cue played before the reply
    (a wake chime) may close a ``turn`` record of its own first.
    """
    for e in reversed(events):
        if e.get("type") != TurnSummary.type:
            continue
        for key in ("speech_end_to_first_audio_ms", "eos_to_first_audio_ms"):
            if e.get(key) is not None:
                return float(e[key]), key
    return None, None


def positive(meta: dict[str, Any], got: Attributed) -> dict[str, Any]:
    turns: list[dict[str, Any]] = []
    for turn_id, events in sorted(got.turns.items()):
        transcript = _first(events, Transcript.type)
        intent = _first(events, IntentHandled.type)
        abandoned = [e for e in events if e.get("type") in ABANDON_TYPES]
        started, stopped = _first(events, SpeechStarted.type), _first(events, SpeechStopped.type)
        replied = _first(events, Reply.type) is not None
        turn_latency, latency_key = _latency(events)
        turns.append({
            "turn": turn_id,
            "transcript": transcript.get("text", "") if transcript else None,
            "intent": intent.get("name") if intent else None,
            "reply": (_first(events, Reply.type) or {}).get("text"),
            "backend": (_first(events, Reply.type) or {}).get("backend"),
            "abandoned": None if replied or not abandoned else str(abandoned[0].get("reason", abandoned[0]["type"])),
            "unhandled": _first(events, Unhandled.type) is not None,
            "speech_started_t": started.get("stream_t") if started else None,
            "speech_stopped_t": stopped.get("stream_t") if stopped else None,
            "stop_reason": stopped.get("reason") if stopped else None,
            "latency_ms": turn_latency, "latency_key": latency_key,
        })
    heard = [t for t in turns if t["transcript"]]
    out: dict[str, Any] = {
        **meta,
        "wakes": len(got.wakes),
        "wake_t": [w.get("stream_t") for w in got.wakes],
        "wake_ok": len(got.wakes) == 1,
        "turns": turns,
        "transcripts": len(heard),
    }
    wer_value, strict_wer, intent_ok = 1.0, 1.0, False
    remnant: list[str] = []
    latency: float | None = None
    if heard:
        # The turn judged is the one whose transcript is closest to the command.
        best = min(heard, key=lambda t: command_wer(meta["expect"], t["transcript"])[0])
        wer_value, remnant = command_wer(meta["expect"], best["transcript"])
        strict_wer = wer(meta["expect"], best["transcript"])  # the wake phrase's tail counted as errors
        intent_ok = best["intent"] == meta["intent"]
        latency = best["latency_ms"]
        out["latency_key"] = best["latency_key"]
        # Known only when the daemon reports where the speech stopped (``stream_t``).
        if best["speech_stopped_t"] is not None and meta.get("command_start") is not None:
            out["ended_in_pause"] = best["speech_stopped_t"] < meta["command_start"]
    out.update({
        "wer": round(wer_value, 4),
        "wake_remnant": (" ".join(remnant) or None) if wer_value <= SUCCESS_WER else None,
        "intent_ok": intent_ok,
        "success": len(heard) == 1 and wer_value <= SUCCESS_WER and intent_ok,
        "strict_success": len(heard) == 1 and strict_wer <= SUCCESS_WER and intent_ok,
        "abandoned": [t["abandoned"] for t in turns if t["abandoned"]],
        "unhandled": any(t["unhandled"] for t in turns),
        "latency_ms": latency,
    })
    return out


def negative(meta: dict[str, Any], got: Attributed) -> dict[str, Any]:
    return {
        **meta,
        "seconds": round(meta["end"] - meta["start"], 3),
        "false_wakes": len(got.wakes),
        "wake_t": [w.get("stream_t") for w in got.wakes],
        "replies": sum(1 for events in got.turns.values() if _first(events, Reply.type) is not None),
    }
