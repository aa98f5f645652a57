"""Follow-up mode: the pure policy, and the daemon acting on it in the right order."""

from __future__ import annotations

from typing import Any

from panikid.app.daemon import Daemon, RunOptions
from panikid.config import Config
from panikid.config import replace as replace_config
from panikid.events.follow_up import OPEN_TURNS, FollowUpPolicy
from panikid.events.schema import AudioStopped, Muted, Transcript
from panikid.pipeline.frames import Frame, ListenFrame
from panikid.pipeline.processor import FrameProcessor
from panikid.pipeline.runner import Pipeline


def _feed(policy: FollowUpPolicy, events: list[tuple[str, dict[str, Any]]], muted: bool = False) -> list[float | None]:
    return [policy.on_event(t, d, muted=muted) for t, d in events]


ANSWERED = [("transcript", {"turn": 3, "text": "what time is it"}), ("reply", {"turn": 3, "text": "Noon."}),
            ("audio_started", {"turn": 3}), ("audio_stopped", {"turn": 3, "interrupted": False})]


def test_a_question_answered_to_the_end_opens_the_window_once() -> None:
    policy = FollowUpPolicy(4.0)
    assert _feed(policy, ANSWERED) == [None, None, None, 4.0]
    assert policy.on_event("audio_stopped", {"turn": 3, "interrupted": False}, muted=False) is None  # once


def test_no_window_when_off_cut_muted_said_or_abandoned() -> None:
    assert _feed(FollowUpPolicy(0.0), ANSWERED)[-1] is None  # follow-up mode off
    cut = [*ANSWERED[:-1], ("audio_stopped", {"turn": 3, "interrupted": True})]
    assert _feed(FollowUpPolicy(4.0), cut)[-1] is None  # the user cut the reply
    assert _feed(FollowUpPolicy(4.0), ANSWERED, muted=True)[-1] is None
    said = [("audio_started", {"turn": 5}), ("audio_stopped", {"turn": 5, "interrupted": False})]
    assert _feed(FollowUpPolicy(4.0), said) == [None, None]  # a say command: nobody asked
    empty = [("transcript", {"turn": 6, "text": ""}), ("audio_stopped", {"turn": 6, "interrupted": False})]
    assert _feed(FollowUpPolicy(4.0), empty)[-1] is None
    abandoned = [ANSWERED[0], ("turn_abandoned", {"turn": 3, "reason": "empty_reply"}), ANSWERED[-1]]
    assert _feed(FollowUpPolicy(4.0), abandoned)[-1] is None


def test_other_turns_do_not_count_and_memory_stays_bounded() -> None:
    policy = FollowUpPolicy(2.5)
    assert policy.on_event("transcript", {"turn": 1, "text": "hi"}, muted=False) is None
    assert policy.on_event("audio_stopped", {"turn": 2, "interrupted": False}, muted=False) is None
    assert policy.on_event("audio_stopped", {"turn": 1, "interrupted": False}, muted=False) == 2.5
    for turn in range(10, 1010):  # transcripts whose reply never played
        policy.on_event("transcript", {"turn": turn, "text": "hm"}, muted=False)
    assert len(policy._asked) == OPEN_TURNS


class _Grab(FrameProcessor):
    def __init__(self) -> None:
        super().__init__("grab")
        self.got: list[Frame] = []

    def queue_frame(self, frame: Frame) -> None:
        self.got.append(frame)
        super().queue_frame(frame)


def test_the_daemon_listens_after_the_state_machine_saw_the_reply_end() -> None:
    daemon = Daemon(replace_config(Config(), context={"follow_up_seconds": 4.0}), RunOptions())
    grab = _Grab()
    daemon.pipeline = Pipeline([grab])  # stands in for the running pipeline
    daemon.bus.publish("speech_stopped", turn=3)
    for type, data in ANSWERED:
        daemon.bus.publish(type, **data)
    seen = [(e.type, e.data.get("state") or e.data.get("follow_up")) for e in daemon.bus.history]
    assert seen[-3:] == [("state", "idle"), ("listen", True), ("state", "listening")]
    assert daemon.current_state() == "listening"
    assert grab.got == [ListenFrame(no_speech_seconds=4.0, reason="follow_up")]

    # Muted: the reply ends, no window.
    daemon.bus.publish(Muted())
    daemon.bus.publish(Transcript(turn=4, text="and tomorrow"))
    daemon.bus.publish(AudioStopped(turn=4, interrupted=False))
    assert grab.got == [ListenFrame(no_speech_seconds=4.0, reason="follow_up")]
    assert daemon.current_state() == "muted"
