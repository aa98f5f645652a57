"""Turn metrics stay bounded over a long life (months of turns), and the turn event adds up."""

from __future__ import annotations

from panikid import events as ev
from panikid.events import EventBus
from panikid.events.metrics import MAX_OPEN_TURNS, TurnMetrics


def test_turns_that_never_play_a_reply_are_not_kept_forever() -> None:
    bus = EventBus()
    metrics = TurnMetrics(bus)
    for turn in range(1, 10_001):  # transcribed, then nothing played (a muted output, a failed TTS, ...)
        bus.publish(ev.SPEECH_STOPPED, turn=turn, speech_end_t=1.0)
        bus.publish(ev.TRANSCRIPT, turn=turn, text="hello", stt_ms=10.0)
        if turn % 3 == 0:
            bus.publish(ev.TURN_ABANDONED, turn=turn, reason="not_understood")
    assert len(metrics._turns) <= MAX_OPEN_TURNS


def test_completed_turns_keep_only_the_last_ones_and_the_figures_add_up() -> None:
    now = [0.0]
    bus = EventBus(clock=lambda: now[0])
    metrics = TurnMetrics(bus)
    for turn in range(1, 1001):
        now[0] = turn * 10.0
        bus.publish(ev.SPEECH_STOPPED, turn=turn, speech_end_t=now[0] - 0.6)
        now[0] += 0.4
        bus.publish(ev.AUDIO_STARTED, turn=turn)
        bus.publish(ev.AUDIO_STOPPED, turn=turn, interrupted=False)
    assert len(metrics.completed) == 100
    last = metrics.completed[-1]
    assert last["turn"] == 1000
    assert round(last["speech_end_to_first_audio_ms"]) == 1000 and round(last["eos_to_first_audio_ms"]) == 400
