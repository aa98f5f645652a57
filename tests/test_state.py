"""The assistant state machine: every transition, and every state's timeout back to idle (pure, no clock)."""

from __future__ import annotations

import pytest

from panikid import events as ev
from panikid.events.state import DEFAULT_TIMEOUTS, State, StateMachine


def drive(sm: StateMachine, *steps: tuple[str, dict, float]) -> list[str | None]:
    return [(new.value if (new := sm.on_event(t, d, now)) else None) for t, d, now in steps]


def test_a_whole_turn_walks_through_every_state() -> None:
    sm = StateMachine()
    assert sm.state is State.IDLE
    got = drive(sm, (ev.WAKE, {}, 1.0), (ev.SPEECH_STARTED, {"turn": 1}, 1.5), (ev.SPEECH_STOPPED, {"turn": 1}, 3.0),
                (ev.AUDIO_STARTED, {"turn": 1}, 3.6), (ev.AUDIO_STOPPED, {"turn": 1}, 6.0))
    assert got == ["listening", None, "processing", "responding", "idle"]
    assert sm.turn == 1


def test_a_listen_command_and_an_abandoned_turn() -> None:
    sm = StateMachine()
    assert drive(sm, ("listen", {}, 0.0), (ev.TURN_ABANDONED, {"turn": 2, "reason": "no_speech"}, 5.0)) == [
        "listening", "idle"]
    assert drive(sm, (ev.WAKE, {}, 6.0), (ev.NO_SPEECH, {"turn": 3}, 11.0)) == ["listening", "idle"]


def test_muted_ignores_everything_but_unmute() -> None:
    sm = StateMachine()
    assert drive(sm, ("mute", {}, 0.0)) == ["muted"]
    assert drive(sm, (ev.WAKE, {}, 1.0), (ev.AUDIO_STARTED, {"turn": 1}, 2.0)) == [None, None]
    assert sm.state is State.MUTED
    assert drive(sm, ("unmute", {}, 3.0)) == ["idle"]
    assert drive(sm, (ev.WAKE, {}, 4.0)) == ["listening"]


def test_errors_end_their_own_turn_and_a_fatal_one_means_error() -> None:
    sm = StateMachine()
    drive(sm, (ev.WAKE, {}, 0.0), (ev.SPEECH_STOPPED, {"turn": 4}, 2.0))
    # An error of another turn leaves this one alone; an error of this turn ends it.
    assert drive(sm, (ev.ERROR, {"turn": 9}, 2.1)) == [None]
    assert drive(sm, (ev.ERROR, {"turn": 4}, 2.2)) == ["idle"]
    assert drive(sm, (ev.ERROR, {"fatal": True}, 3.0)) == ["error"]


@pytest.mark.parametrize("state,enter", [
    (State.LISTENING, [(ev.WAKE, {})]),
    (State.PROCESSING, [(ev.WAKE, {}), (ev.SPEECH_STOPPED, {"turn": 1})]),
    (State.RESPONDING, [(ev.WAKE, {}), (ev.SPEECH_STOPPED, {"turn": 1}), (ev.AUDIO_STARTED, {"turn": 1})]),
    (State.ERROR, [(ev.ERROR, {"fatal": True})]),
])
def test_every_busy_state_times_out_to_idle(state: State, enter: list[tuple[str, dict]]) -> None:
    sm = StateMachine()
    for t, d in enter:
        sm.on_event(t, d, 10.0)
    assert sm.state is state
    limit = DEFAULT_TIMEOUTS[state]
    assert sm.tick(10.0 + limit - 0.01) is None  # not yet
    assert sm.state is state
    assert sm.tick(10.0 + limit) is State.IDLE
    assert sm.tick(10.0 + limit + 100) is None  # idle has no timeout


def test_the_timeout_counts_from_entering_the_state() -> None:
    sm = StateMachine(timeouts={State.LISTENING: 5.0, State.PROCESSING: 5.0})
    sm.on_event(ev.WAKE, {}, 0.0)
    sm.on_event(ev.SPEECH_STOPPED, {"turn": 1}, 4.0)  # processing from t=4
    assert sm.tick(8.5) is None
    assert sm.tick(9.0) is State.IDLE


def test_muted_never_times_out() -> None:
    sm = StateMachine()
    sm.on_event("mute", {}, 0.0)
    assert sm.tick(1e6) is None and sm.state is State.MUTED


def test_every_state_but_idle_and_muted_has_a_timeout() -> None:
    assert set(DEFAULT_TIMEOUTS) == set(State) - {State.IDLE, State.MUTED}


def test_a_lost_device_holds_error_with_its_reason_until_it_is_back() -> None:
    sm = StateMachine()
    drive(sm, (ev.WAKE, {}, 0.0))
    lost = {"kind": "input", "device": "vmic", "message": "capture device 'vmic' is gone", "retry_seconds": 2.0}
    assert drive(sm, ("device_lost", lost, 1.0)) == ["error"]
    assert sm.reason == "capture device 'vmic' is gone"
    # Nothing else moves it, and it does not time out while the device is missing.
    assert drive(sm, (ev.WAKE, {}, 2.0), (ev.AUDIO_STOPPED, {"turn": 1}, 3.0)) == [None, None]
    assert sm.tick(1.0 + 10 * DEFAULT_TIMEOUTS[State.ERROR]) is None
    assert sm.state is State.ERROR
    assert drive(sm, ("device_restored", {"kind": "input", "device": "vmic", "lost_seconds": 9.0}, 60.0)) == ["idle"]
    assert sm.reason is None
    assert drive(sm, (ev.WAKE, {}, 61.0)) == ["listening"]


def test_both_devices_lost_and_a_mute_meanwhile() -> None:
    sm = StateMachine()
    drive(sm, ("device_lost", {"kind": "input", "message": "mic gone"}, 0.0))
    # The second loss changes the reason: a new state event says so.
    assert drive(sm, ("device_lost", {"kind": "output", "message": "speaker gone"}, 1.0)) == ["error"]
    assert sm.reason == "mic gone; speaker gone"
    assert drive(sm, ("mute", {}, 2.0)) == [None]
    assert drive(sm, ("device_restored", {"kind": "input"}, 3.0)) == ["error"]
    assert sm.reason == "speaker gone"
    # Back with both devices, it is still muted: the user asked for that.
    assert drive(sm, ("device_restored", {"kind": "output"}, 4.0)) == ["muted"]
    assert drive(sm, ("unmute", {}, 5.0)) == ["idle"]
