"""panikid eval's pure parts: the normaliser, WER, events given to items, outcomes, the plan and its data."""

from __future__ import annotations

import numpy as np
import pytest

from panikid.brains import intents
from panikid.evaluation import commands, noise, outcome
from panikid.evaluation.plan import CONDITIONS, PAUSES, make_plan
from panikid.evaluation.report import build as build_report
from panikid.evaluation.score import attribute, command_wer, edit_distance, normalise, wer
from panikid.evaluation.sentences import negative_sentences

# ---------------------------------------------------------------- normaliser and WER


@pytest.mark.parametrize(("text", "words"), [
    ("Set a timer for 20 minutes.", "set a timer for 20 minutes"),
    ("set a timer for twenty minutes", "set a timer for 20 minutes"),
    ("Forty-five minutes", "45 minutes"),
    ("twenty one degrees", "21 degrees"),
    ("one hundred", "100"),
    ("five six", "5 6"),
    ("Set the volume to 50%.", "set the volume to 50 percent"),
    ("What's the time?", "what is the time"),
    ("It is 10:30 PM.", "it is 10 30 pm"),
    ("Um, who was the first, uh, person?", "who was the first person"),
    ("OK, today's date", "okay todays date"),
    ("1,000 people", "1000 people"),
    ("  ", ""),
])
def test_normalise(text: str, words: str) -> None:
    assert normalise(text) == words.split()


def test_edit_distance_counts_substitutions_deletions_and_insertions() -> None:
    assert edit_distance([], []) == 0
    assert edit_distance(["a", "b", "c"], ["a", "b", "c"]) == 0
    assert edit_distance(["a", "b", "c"], ["a", "x", "c"]) == 1
    assert edit_distance(["a", "b", "c"], ["a", "c"]) == 1
    assert edit_distance(["a", "b"], ["a", "b", "c", "d"]) == 2
    assert edit_distance(["a"], []) == 1


def test_wer_is_errors_over_reference_words_after_normalisation() -> None:
    assert wer("Set a timer for twenty minutes.", "Set a timer for 20 minutes.") == 0.0
    assert wer("Lock the front door.", "Like the front door") == pytest.approx(0.25)
    assert wer("What time is it?", "") == 1.0
    assert wer("", "") == 0.0
    assert wer("", "hello") == 1.0


def test_command_wer_forgives_the_wake_phrase_tail_at_the_start_only() -> None:
    assert command_wer("What time is it?", "I'll be what time is it?") == (0.0, ["i", "will", "be"])
    assert command_wer("Turn the volume up.", "Okay now boo turn the volume up") == (0.0, ["okay", "now", "boo"])
    # Not more than three words, and not a wrong word in place of the command's first one.
    w, cut = command_wer("What time is it?", "so well you see what time is it")
    assert w == pytest.approx(0.25) and cut == ["so", "well", "you"]
    assert command_wer("Lock the front door.", "Like the front door") == (0.25, [])
    # Trailing words are errors as usual.
    assert command_wer("Stop.", "Stop now") == (1.0, [])


# ---------------------------------------------------------------- events to items

SEGMENTS = [
    {"id": "a", "start": 1.0, "end": 10.0, "command_start": 4.0},
    {"id": "b", "start": 10.0, "end": 20.0, "command_start": 13.0},
    {"id": "n", "start": 20.0, "end": 80.0},
]


def test_turns_belong_to_the_item_of_their_wake() -> None:
    events = [
        {"type": "ready", "t": 1.0},
        {"type": "wake", "stream_t": 2.5},
        {"type": "speech_started", "turn": 1},
        {"type": "transcript", "turn": 1, "text": "what time is it"},
        {"type": "intent", "turn": 1, "name": "time"},
        {"type": "state", "state": "idle"},
        {"type": "wake", "stream_t": 12.0},
        # The turn's first event comes before its wake's item ends, its transcript after.
        {"type": "speech_started", "turn": 2, "stream_t": 13.2},
        {"type": "speech_stopped", "turn": 2, "stream_t": 14.0},
        {"type": "transcript", "turn": 2, "text": "stop"},
        {"type": "wake", "stream_t": 30.0},  # a false wake in the negatives
        {"type": "no_speech", "turn": 3, "reason": "timeout"},
    ]
    got = attribute(events, SEGMENTS)
    assert [w["stream_t"] for w in got.segments["a"].wakes] == [2.5]
    assert sorted(got.segments["a"].turns) == [1]
    assert sorted(got.segments["b"].turns) == [2]
    assert len(got.segments["b"].turns[2]) == 3
    assert len(got.segments["n"].wakes) == 1 and sorted(got.segments["n"].turns) == [3]
    assert got.outside_wakes == [] and got.unattributed_turns == []


def test_wakes_outside_segments_timer_turns_and_turns_without_wake() -> None:
    events = [
        {"type": "wake", "stream_t": 0.5},  # the stream's opening silence: no segment
        {"type": "speech_started", "turn": 7, "stream_t": 0.6},  # placed by its stream_t: nowhere
        {"type": "wake", "stream_t": 5.0},
        {"type": "timer_finished", "turn": 8, "text": "Your 20 minutes timer is done."},
        {"type": "audio_started", "turn": 8},
        {"type": "transcript", "turn": 9, "text": "hello"},
    ]
    got = attribute(events, SEGMENTS)
    assert len(got.outside_wakes) == 1
    assert got.timer_turns == [8]
    assert 8 not in got.segments["a"].turns
    assert sorted(got.segments["a"].turns) == [9]  # most recent wake before its first event
    assert got.unattributed_turns == [7]


def test_a_turn_before_any_wake_is_placed_by_stream_t() -> None:
    events = [
        {"type": "listen", "turn": 4},
        {"type": "speech_started", "turn": 4, "stream_t": 15.0},
        {"type": "transcript", "turn": 4, "text": "hi"},
    ]
    got = attribute(events, SEGMENTS)
    assert [e["type"] for e in got.segments["b"].turns[4]] == ["listen", "speech_started", "transcript"]


def _meta(**kw: object) -> dict:
    base = {"id": "x", "start": 1.0, "end": 10.0, "expect": "What time is it?", "intent": "time",
            "command_start": 4.0, "pause": 1.0, "condition": "clean", "voice_group": "piper ls=1",
            "command_kind": "intent", "hesitation": "none"}
    return {**base, **kw}


def _judge(meta: dict, events: list[dict]) -> dict:
    return outcome.positive(meta, attribute(events, [meta]).segments["x"])


def test_outcome_success_needs_one_close_transcript_and_the_right_intent() -> None:
    ok = _judge(_meta(), [{"type": "wake", "stream_t": 3.0},
                          {"type": "transcript", "turn": 1, "text": "What time is it?"},
                          {"type": "intent", "turn": 1, "name": "time"},
                          {"type": "reply", "turn": 1, "text": "It is 9:00 AM.", "backend": "intent"},
                          {"type": "turn", "turn": 1, "eos_to_first_audio_ms": 300.0}])
    assert ok["wake_ok"] and ok["success"] and ok["wer"] == 0.0 and ok["latency_ms"] == 300.0
    tail = _judge(_meta(), [{"type": "wake", "stream_t": 3.0},
                            {"type": "transcript", "turn": 1, "text": "I'll be what time is it?"},
                            {"type": "intent", "turn": 1, "name": "time"}])
    assert tail["success"] and tail["wake_remnant"] == "i will be" and not tail["strict_success"]
    wrong_intent = _judge(_meta(), [{"type": "wake", "stream_t": 3.0},
                                    {"type": "transcript", "turn": 1, "text": "What time is it?"}])
    assert not wrong_intent["success"] and wrong_intent["wer"] == 0.0
    question = _judge(_meta(intent=None, expect="Why is the sky blue?"),
                      [{"type": "wake", "stream_t": 3.0},
                       {"type": "transcript", "turn": 1, "text": "Why is the sky blue?"},
                       {"type": "turn", "turn": 1, "speech_end_to_first_audio_ms": 700.0,
                        "eos_to_first_audio_ms": 100.0}])
    assert question["success"] and question["latency_ms"] == 700.0


def test_outcome_of_a_turn_cut_in_the_pause() -> None:
    got = _judge(_meta(), [{"type": "wake", "stream_t": 3.0},
                           {"type": "speech_started", "turn": 1, "stream_t": 2.9},
                           {"type": "speech_stopped", "turn": 1, "stream_t": 3.2, "reason": "speech_ended"},
                           {"type": "transcript", "turn": 1, "text": "You"},
                           {"type": "reply", "turn": 1, "text": "I am here to help.", "backend": "local"}])
    assert not got["success"] and got["wer"] == 1.0 and got["ended_in_pause"]
    abandoned = _judge(_meta(), [{"type": "wake", "stream_t": 3.0},
                                 {"type": "turn_abandoned", "turn": 1, "reason": "not_understood"}])
    assert abandoned["abandoned"] == ["not_understood"] and abandoned["transcripts"] == 0
    twice = _judge(_meta(), [{"type": "wake", "stream_t": 3.0}, {"type": "wake", "stream_t": 6.0},
                             {"type": "transcript", "turn": 1, "text": "What"},
                             {"type": "transcript", "turn": 2, "text": "What time is it?"},
                             {"type": "intent", "turn": 2, "name": "time"}])
    assert not twice["wake_ok"] and twice["wakes"] == 2 and not twice["success"] and twice["wer"] == 0.0


def test_report_counts_every_item_and_negative_hours() -> None:
    items = [_judge(_meta(id="x", pause=p, condition=c),
                    [{"type": "wake", "stream_t": 3.0}, {"type": "transcript", "turn": 1, "text": "What time is it"},
                     {"type": "intent", "turn": 1, "name": "time"}])
             for p in (0.0, 2.0) for c in ("clean", "pink 10 dB")]
    negatives = [{"id": "n", "negative_kind": "speech", "voice_group": "espeak en-us", "seconds": 1800.0,
                  "false_wakes": 1, "replies": 1}]
    report = build_report(items, negatives, {"slice": "ci"})
    assert report["overall"]["items"] == 4 and report["overall"]["turn_success_pct"] == 100.0
    assert list(report["by_pause"]) == ["0.0", "2.0"]
    assert list(report["by_condition"]) == ["clean", "pink 10 dB"]
    assert report["by_pause_condition"]["2.0 | pink 10 dB"]["items"] == 1
    assert report["negatives"]["hours"] == 0.5 and report["negatives"]["per_hour"] == 2.0


# ---------------------------------------------------------------- data and plan


def test_every_command_triggers_its_intent_and_every_intent_but_mute_is_covered() -> None:
    cmds = commands.load()
    assert len(cmds) >= 40
    for c in cmds:
        got = intents.match(c.expect)
        assert (got.name if got else None) == c.intent, c.id
    covered = {c.intent for c in cmds if c.intent}
    known = {name for name, _pattern in intents._PATTERNS}
    assert {"time", "date", "timer_set", "timer_cancel", "timer_list", "volume_up", "volume_down", "volume_set",
            "stop"} <= known
    assert covered == known - {"mute"}  # mute would silence the daemon for the rest of a stream
    assert {c.hesitation for c in cmds} == {"none", "silence", "filler"}
    assert {c.kind for c in cmds} == set(commands.KINDS)


def test_timers_in_the_commands_outlast_a_stream() -> None:
    for c in commands.load():
        got = intents.match(c.expect)
        if got is not None and got.name == "timer_set":
            assert got.slots["seconds"] >= 20 * 60, c.id


def test_commands_reject_bad_entries() -> None:
    with pytest.raises(ValueError, match="kind"):
        commands.parse('[[command]]\nid = "a"\nsay = "hi"\nkind = "other"\n')
    with pytest.raises(ValueError, match="unique"):
        commands.parse('[[command]]\nid = "a"\nsay = "hi"\nkind = "chitchat"\n' * 2)


def test_negative_sentences_are_distinct_and_never_hold_the_wake_word() -> None:
    sentences = negative_sentences(300, seed=3)
    assert len(set(sentences)) == 300
    assert sentences == negative_sentences(300, seed=3)
    assert not any("nabu" in s.lower() or "nah-boo" in s.lower() for s in sentences)


def test_full_plan_has_a_cell_for_every_pause_and_condition() -> None:
    plan = make_plan("full")
    cells: dict[tuple[float, str], int] = {}
    for item in plan.items:
        key = (item.pause, item.condition.label)
        cells[key] = cells.get(key, 0) + 1
    assert set(cells) == {(p, c.label) for p in PAUSES for c in CONDITIONS}
    assert min(cells.values()) >= 15
    assert len({i.id for i in plan.items}) == len(plan.items)
    assert {c.id for c in commands.load()} == {i.command.id for i in plan.items}
    assert sum(len(n.sentences) for n in plan.negatives) * 3.5 >= 30 * 60  # >= 30 min of talk (~3.5 s each)
    assert make_plan("full").key() == plan.key() != make_plan("ci").key()


def test_noise_plan_is_the_same_speech_clean_and_at_10_and_5_db() -> None:
    plan = make_plan("noise")
    labels = {"clean", "pink 10 dB", "pink 5 dB", "babble 10 dB", "babble 5 dB"}
    assert {i.condition.label for i in plan.items} == labels and {i.pause for i in plan.items} == {0.3, 1.0}
    by_speech: dict[str, set[str]] = {}
    for item in plan.items:
        by_speech.setdefault(item.id.rsplit("-", 1)[0], set()).add(item.condition.label)
    assert len(by_speech) == 32 and all(conds == labels for conds in by_speech.values())
    assert any(n.kind == "babble" for n in plan.negatives) and any(n.kind == "speech" for n in plan.negatives)
    assert make_plan("noise").key() == plan.key() not in (make_plan("ci").key(), make_plan("full").key())


def test_ci_plan_holds_every_pause_clean() -> None:
    plan = make_plan("ci")
    assert {i.pause for i in plan.items if i.condition.noise == "clean"} == set(PAUSES)
    assert any(i.condition.noise != "clean" for i in plan.items)


# ---------------------------------------------------------------- noise


def test_mixing_hits_the_snr_over_the_active_speech() -> None:
    rng = np.random.default_rng(1)
    tone = (8000 * np.sin(np.arange(16000) * 2 * np.pi * 440 / 16000)).astype(np.int16)
    speech = np.concatenate([np.zeros(32000, dtype=np.int16), tone, np.zeros(32000, dtype=np.int16)])
    pink = noise.pink(len(speech), rng)
    mixed = noise.mix_at_snr(speech, pink, 10.0)
    added = mixed.astype(np.float64) - speech
    snr = 10 * np.log10(noise.active_power(speech) / np.mean(added**2))
    assert snr == pytest.approx(10.0, abs=0.1)  # the silences around the tone do not lower the noise


def test_babble_is_made_of_the_talkers_given() -> None:
    rng = np.random.default_rng(2)
    talkers = [(3000 * np.random.default_rng(i).standard_normal(8000)).astype(np.int16) for i in range(3)]
    b = noise.babble(20000, talkers, rng, voices=4)
    assert len(b) == 20000 and np.sqrt(np.mean(b.astype(np.float64) ** 2)) == pytest.approx(1.0, rel=1e-3)
    with pytest.raises(ValueError):
        noise.babble(100, [], rng)
