"""EndOfTurnSegmenter: a pure state machine fed (chunk_seconds, is_speech); no audio, no clock."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from panikid.segmenter import EndOfTurnSegmenter, Segment

CHUNK = 0.03  # 30 ms VAD frames


def feed(seg: EndOfTurnSegmenter, pattern: str, chunk: float = CHUNK) -> list[tuple[int, Segment]]:
    """Feed one chunk per character ('s' speech, '.' silence); return (chunk index, result) pairs."""
    out = []
    for i, ch in enumerate(pattern):
        result = seg.process(chunk, ch == "s")
        if result is not None:
            out.append((i, result))
    return out


def test_speech_starts_only_after_speech_seconds_of_speech() -> None:
    seg = EndOfTurnSegmenter(speech_seconds=0.09, silence_seconds=0.6)
    # two speech chunks (60 ms) are not enough, and the run is broken by silence
    assert feed(seg, "ss.") == []
    assert not seg.in_speech
    # three in a row (90 ms) are
    assert feed(seg, "sss") == [(2, Segment.SPEECH_STARTED)]
    assert seg.in_speech
    # speech started where that run began: after 3 chunks
    assert seg.speech_start == pytest.approx(3 * CHUNK)


def test_turn_ends_after_silence_seconds_of_silence_after_speech() -> None:
    seg = EndOfTurnSegmenter(speech_seconds=0.03, silence_seconds=0.3)
    events = feed(seg, "....ssss" + "." * 10 + "ssss")
    # started on the first speech chunk (index 4), ended on the 10th silent chunk (index 17)
    assert events == [(4, Segment.SPEECH_STARTED), (17, Segment.SPEECH_ENDED)]
    assert seg.speech_start == pytest.approx(4 * CHUNK)
    assert seg.speech_end == pytest.approx(8 * CHUNK)  # the end of the last speech chunk
    assert seg.done


def test_pauses_shorter_than_silence_seconds_do_not_end_the_turn() -> None:
    seg = EndOfTurnSegmenter(speech_seconds=0.03, silence_seconds=0.3)
    # pauses of 9 chunks (270 ms) between words, then the real end
    speech = "sss" + "........." + "sss" + "........." + "ss"
    events = feed(seg, speech + "..........")
    assert events == [(0, Segment.SPEECH_STARTED), (len(speech) + 9, Segment.SPEECH_ENDED)]
    assert seg.speech_start == pytest.approx(0.0)
    assert seg.speech_end == pytest.approx(len(speech) * CHUNK)


def test_no_speech_ends_the_turn_after_no_speech_seconds() -> None:
    seg = EndOfTurnSegmenter(speech_seconds=0.09, no_speech_seconds=0.3)
    # short blips that never reach speech_seconds do not count as speech
    events = feed(seg, "s.s.ss..s.ss")
    assert events == [(9, Segment.NO_SPEECH)]
    assert seg.done and seg.speech_end is None
    assert not seg.in_speech


def test_speech_under_way_at_the_no_speech_deadline_is_not_cut_off() -> None:
    seg = EndOfTurnSegmenter(speech_seconds=0.09, silence_seconds=0.3, no_speech_seconds=0.3)
    # the user starts speaking at 240 ms; speech_seconds is reached after the no-speech deadline
    events = feed(seg, "........ssss")
    assert events == [(10, Segment.SPEECH_STARTED)]
    assert seg.speech_start == pytest.approx(8 * CHUNK)


def test_max_length_ends_a_turn_that_goes_on_and_on() -> None:
    seg = EndOfTurnSegmenter(speech_seconds=0.03, silence_seconds=0.3, max_seconds=1.5)
    events = feed(seg, ".." + "s" * 200)
    # 1.5 s after speech began at chunk 2: chunk 2 + 50 - 1
    assert events == [(2, Segment.SPEECH_STARTED), (51, Segment.MAX_LENGTH)]
    assert seg.done
    assert seg.speech_start == pytest.approx(2 * CHUNK)
    assert seg.speech_end == pytest.approx(52 * CHUNK)


def test_nothing_happens_after_the_turn_is_done_until_reset() -> None:
    seg = EndOfTurnSegmenter(speech_seconds=0.03, silence_seconds=0.06)
    assert [r for _, r in feed(seg, "s..")] == [Segment.SPEECH_STARTED, Segment.SPEECH_ENDED]
    assert seg.done
    elapsed = seg.elapsed
    assert feed(seg, "sss...sss" * 10) == []
    assert seg.elapsed == elapsed  # ignored chunks do not advance time either
    seg.reset()
    assert not seg.done and seg.speech_start is None and seg.elapsed == 0.0
    assert [r for _, r in feed(seg, "s..")] == [Segment.SPEECH_STARTED, Segment.SPEECH_ENDED]


def test_time_is_the_sum_of_chunk_durations_of_any_size() -> None:
    seg = EndOfTurnSegmenter(speech_seconds=0.1, silence_seconds=0.2)
    assert seg.process(0.25, False) is None
    assert seg.process(0.1, True) == Segment.SPEECH_STARTED
    assert seg.speech_start == pytest.approx(0.25)
    assert seg.process(0.08, False) is None
    assert seg.process(0.12, False) == Segment.SPEECH_ENDED
    assert seg.speech_end == pytest.approx(0.35)
    assert seg.elapsed == pytest.approx(0.55)


def test_defaults_match_the_configuration_defaults() -> None:
    from panikid.config import VadConfig

    seg, vad = EndOfTurnSegmenter(), VadConfig()
    assert (seg.speech_seconds, seg.silence_seconds, seg.max_seconds, seg.no_speech_seconds) == (
        vad.speech_seconds, vad.silence_seconds, vad.max_seconds, vad.no_speech_seconds,
    )


chunks = st.lists(
    st.tuples(st.sampled_from([0.01, 0.02, 0.03, 0.032, 0.08, 0.25]), st.booleans()), max_size=400
)
params = st.fixed_dictionaries({
    "speech_seconds": st.sampled_from([0.01, 0.05, 0.1, 0.3]),
    "silence_seconds": st.sampled_from([0.1, 0.3, 0.6, 1.5]),
    "max_seconds": st.sampled_from([1.0, 3.0, 15.0]),
    "no_speech_seconds": st.sampled_from([0.5, 2.0, 5.0]),
})


@settings(max_examples=300, deadline=None)
@given(params=params, sequence=chunks)
def test_any_sequence_starts_at_most_once_and_ends_at_most_once_after_the_start(
    params: dict[str, float], sequence: list[tuple[float, bool]]
) -> None:
    seg = EndOfTurnSegmenter(**params)
    results = [(seg.process(c, s), c, s) for c, s in sequence]
    emitted = [r for r, _, _ in results if r is not None]
    ends = [r for r in emitted if r is not Segment.SPEECH_STARTED]
    assert emitted.count(Segment.SPEECH_STARTED) <= 1
    assert len(ends) <= 1
    if ends:
        assert emitted[-1] is ends[0], "nothing is emitted after the end"
        if ends[0] is Segment.NO_SPEECH:
            assert Segment.SPEECH_STARTED not in emitted
        else:
            assert emitted == [Segment.SPEECH_STARTED, ends[0]], "ended before it started"
        assert seg.done
    else:
        assert not seg.done
    if Segment.SPEECH_STARTED in emitted:
        assert seg.speech_start is not None and seg.speech_end is not None
        assert 0.0 <= seg.speech_start < seg.speech_end <= seg.elapsed + 1e-9
    # speech started only on a speech chunk; the turn ended by silence only on a silent chunk
    for result, _, is_speech in results:
        if result is Segment.SPEECH_STARTED:
            assert is_speech
        if result in (Segment.SPEECH_ENDED, Segment.NO_SPEECH):
            assert not is_speech


def _trim(decisions: list[bool], **kw) -> int | None:
    from panikid.segmenter import WakeTailTrimmer

    t = WakeTailTrimmer(**kw)
    for d in decisions:
        r = t.process(d)
        if r is not None:
            return r
    return t.finish()


def test_wake_tail_is_cut_only_when_a_pause_follows_it() -> None:
    S, N = True, False
    # End of the wake word, a pause, then the command: drop up to the command.
    assert _trim([S, S, N, N, N, S, S], min_gap=3, keep=0) == 5
    # Two frames of the pause are kept before the command by default.
    assert _trim([S, S, N, N, N, N, S, S], min_gap=3) == 4
    # Input ends during the pause: everything so far was the wake word's tail.
    assert _trim([S, N, N, N, N], min_gap=3) == 5
    # No pause (command in the same breath): keep everything.
    assert _trim([S, S, S, N, S, S] * 10, min_gap=3, max_frames=20) == 0
    # Silence first (the wake word ended before the pre-roll): nothing to drop.
    assert _trim([N, N, N, S, S], min_gap=3) == 0
    assert _trim([], min_gap=3) == 0


def test_command_after_a_pause_loses_the_wake_words_tail(speech_dir, components) -> None:
    """Through the turn detector: with a pause after the wake word, the utterance starts at the command."""
    import asyncio

    from panikid import fixtures
    from panikid.frames import SAMPLE_RATE, InputAudioFrame, UtteranceFrame, WakeWordFrame
    from panikid.testing import run_frames
    from panikid.turn import TurnDetector
    from panikid.vad import WebRtcVad

    wake = fixtures.read_pcm(fixtures.cached_speech(fixtures.WAKE_PHRASE, speech_dir))
    command = fixtures.read_pcm(fixtures.cached_speech("What time is it?", speech_dir))
    wav = fixtures.compose(speech_dir / "tail.wav", [1.0, wake, 0.5, command, 1.5])
    pcm = fixtures.read_pcm(wav).tobytes()
    frames = [InputAudioFrame(pcm[i : i + 960], i / 2 / SAMPLE_RATE) for i in range(0, len(pcm), 960)]
    wake_end = 1.0 + len(wake) / SAMPLE_RATE
    detected_at = wake_end + 0.2  # detection lags the spoken word
    cut = int((detected_at + 0.1) / 0.03)
    frames = frames[:cut] + [WakeWordFrame("okay_nabu", 0.9, detected_at)] + frames[cut:]
    out = asyncio.run(run_frames(TurnDetector(WebRtcVad(2), EndOfTurnSegmenter(), 0.3), frames))
    utt = next(f for f in out if isinstance(f, UtteranceFrame))
    assert components.stt.transcribe(utt.pcm).lower().startswith("what time is it")
