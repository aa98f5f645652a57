"""EndOfTurnSegmenter: a pure state machine fed (chunk_seconds, is_speech); no audio, no clock."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from panikid.speech.turn.segmenter import EndOfTurnSegmenter, Segment

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


def _trim(pattern: str, **kw) -> int:
    """Feed 's'/'.' decisions to a WakeTailTrimmer; the frames it drops (at its decision or the end)."""
    from panikid.speech.turn.gates import WakeTailTrimmer

    t = WakeTailTrimmer(**kw)
    for ch in pattern:
        r = t.process(ch == "s")
        if r is not None:
            return r
    return t.finish()


def test_the_wake_words_end_is_dropped_however_long_the_pause_after_it() -> None:
    # The wake word's tail ends at frame 2, before the detection + margin (wake_end=5):
    # it goes whatever follows: a short pause, a long pause, or no command at all.
    assert _trim("ss...sss", wake_end=5, min_gap=3) == 2
    assert _trim("ss" + "." * 60 + "sss", wake_end=5, min_gap=3) == 2
    assert _trim("ss" + "." * 10, wake_end=5, min_gap=3) == 2
    # The decision comes min_gap frames after wake_end at the latest (the caller holds frames until then).
    from panikid.speech.turn.gates import WakeTailTrimmer

    t = WakeTailTrimmer(wake_end=5, min_gap=3)
    results = [t.process(ch == "s") for ch in "ss" + "." * 20]
    assert results.index(2) == 7


def test_every_run_of_the_wake_word_before_its_end_is_dropped() -> None:
    # "o-kay | na | boo": several runs with pauses, all ending by wake_end, then the command.
    assert _trim("sss...ss...ss....ssss", wake_end=14, min_gap=3) == 13


def test_the_command_in_the_same_breath_is_kept_whole() -> None:
    # Speech running through wake_end with no pause: nothing is dropped.
    assert _trim("s" * 40, wake_end=5, min_gap=3, max_frames=30) == 0
    assert _trim("ssssss.ssssssss...", wake_end=5, min_gap=3) == 0
    # A short breath between the wake word and the command (under min_gap) is no pause.
    assert _trim("sss..sssssssss", wake_end=4, min_gap=3) == 0


def test_a_pause_after_the_wake_word_before_the_command_in_one_flow() -> None:
    # The wake word ends (frame 3), a 3-frame pause, the command starts before wake_end is
    # reached: the pause still separates them.
    assert _trim("sss...ssssssssss", wake_end=7, min_gap=3) == 3


def test_silence_first_means_nothing_to_drop() -> None:
    # The pre-roll started after the wake word ended.
    assert _trim("......sss", wake_end=2, min_gap=3) == 0
    assert _trim("", wake_end=2, min_gap=3) == 0


def _mask(pattern: str, start: int, end: int, in_speech_from: int | None = None) -> str:
    """Feed 's'/'.' through a CueMask; what the segmenter receives, as 's'/'.' (held ones come later)."""
    from panikid.speech.turn.gates import CueMask

    m = CueMask(start, end, min_gap=3)
    out: list[bool] = []
    for i, ch in enumerate(pattern):
        out += m.process(ch == "s", in_speech=in_speech_from is not None and i >= in_speech_from)
    out += m.flush()
    return "".join("s" if d else "." for d in out)


def test_the_cue_alone_never_reaches_the_segmenter_as_speech() -> None:
    # The chime heard by the microphone (frames 2-5), then silence, then the command.
    assert _mask("..ssss......sss", start=2, end=8) == "........" + "....sss"
    # Input ends during the cue: it was the cue.
    assert _mask("..sss", start=2, end=8) == "....."


def test_a_command_spoken_over_the_cue_counts_from_its_start() -> None:
    # The chime (2-4), a pause, the command starting inside the window and running past it.
    assert _mask("..sss...ssssss", start=2, end=10) == "........ssssss"
    # The chime running straight into the command: all speech.
    assert _mask("..ssssssssss", start=2, end=6) == "..ssssssssss"


def test_a_command_under_way_before_the_cue_is_left_alone() -> None:
    assert _mask("ssss..sss...", start=2, end=8, in_speech_from=0) == "ssss..sss..."


def test_command_after_a_pause_loses_the_wake_words_tail(speech_dir, components) -> None:
    """Through the turn detector: with a pause after the wake word, the utterance starts at the command."""
    import asyncio

    from panikid.devtools import fixtures
    from panikid.pipeline.frames import SAMPLE_RATE, InputAudioFrame, UtteranceFrame, WakeWordFrame
    from panikid.pipeline.testing import run_frames
    from panikid.speech.turn.processor import TurnDetector
    from panikid.speech.turn.vad import WebRtcVad

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
