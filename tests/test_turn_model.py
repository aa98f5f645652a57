"""The end of the turn decided at a short pause: by an end-of-turn model, with the transcript ready ahead."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
from daemons import run_cli
from helpers import similarity

from panikid.devtools import fixtures
from panikid.events import EventBus
from panikid.pipeline.frames import SAMPLE_RATE, InputAudioFrame, ListenFrame, SpeculationFrame, UtteranceFrame
from panikid.pipeline.testing import run_frames, types
from panikid.speech.turn.processor import TurnDetector
from panikid.speech.turn.segmenter import EndOfTurnSegmenter
from panikid.speech.turn.vad import WebRtcVad


class Scripted:
    """An end-of-turn model that answers what it is told, and remembers what it was asked."""

    def __init__(self, p: float) -> None:
        self.p = p
        self.calls: list[int] = []

    def probability(self, pcm16: bytes) -> float:
        self.calls.append(len(pcm16))
        return self.p


def _frames(pcm: np.ndarray) -> list[InputAudioFrame]:
    raw = pcm.astype(np.int16).tobytes()
    return [InputAudioFrame(raw[i : i + 960], i / 2 / SAMPLE_RATE) for i in range(0, len(raw), 960)]


def _run(model: Scripted | None, speech: np.ndarray, silence: float = 0.6, max_pause: float = 1.6):
    seg = EndOfTurnSegmenter(silence_seconds=max_pause if model else silence)
    det = TurnDetector(WebRtcVad(2), seg, turn_model=model, model_pause_seconds=0.2, model_threshold=0.5)
    pcm = np.concatenate([np.zeros(4000, np.int16), speech, np.zeros(3 * SAMPLE_RATE, np.int16)])
    bus = EventBus()
    out = asyncio.run(run_frames(det, [ListenFrame(), *_frames(pcm)], bus))
    return out, bus


def test_a_finished_sentence_ends_at_the_first_short_pause(speech_dir: Path) -> None:
    speech = fixtures.read_pcm(fixtures.cached_speech("What time is it?", speech_dir))
    model = Scripted(0.9)
    out, bus = _run(model, speech)
    (stopped,) = bus.of_type("speech_stopped")
    assert stopped.data["reason"] == "turn_model" and stopped.data["turn_model_probability"] == 0.9
    assert len(model.calls) == 1
    # The end came at the model's pause (0.2 s), not after the segmenter's 1.6 s of silence.
    (utt,) = [f for f in out if isinstance(f, UtteranceFrame)]
    assert len(utt.pcm) / 2 / SAMPLE_RATE < len(speech) / SAMPLE_RATE + 0.5
    assert stopped.data["stream_t"] < 0.25 + len(speech) / SAMPLE_RATE + 0.05


def test_an_unfinished_sentence_waits_out_the_pause(speech_dir: Path) -> None:
    a = fixtures.read_pcm(fixtures.cached_speech("Set a timer for", speech_dir))
    b = fixtures.read_pcm(fixtures.cached_speech("ten minutes.", speech_dir))
    model = Scripted(0.1)
    out, bus = _run(model, np.concatenate([a, np.zeros(int(1.0 * SAMPLE_RATE), np.int16), b]))
    (stopped,) = bus.of_type("speech_stopped")
    assert stopped.data["reason"] == "speech_ended"  # the segmenter's longer pause, after both parts
    assert len(model.calls) >= 2  # asked at the hesitation and at the end
    (utt,) = [f for f in out if isinstance(f, UtteranceFrame)]
    assert len(utt.pcm) / 2 / SAMPLE_RATE > (len(a) + len(b)) / SAMPLE_RATE + 0.9


def test_the_utterance_so_far_is_sent_ahead_at_a_pause(speech_dir: Path) -> None:
    speech = fixtures.read_pcm(fixtures.cached_speech("What time is it?", speech_dir))
    out, _ = _run(None, speech)
    ahead = [f for f in out if isinstance(f, SpeculationFrame)]
    (utt,) = [f for f in out if isinstance(f, UtteranceFrame)]
    assert ahead and ahead[-1].pcm == utt.pcm  # the same audio: its transcript can be reused
    assert types(out).index("SpeculationFrame") < types(out).index("UtteranceFrame")


def test_stt_reuses_the_transcript_made_ahead(components, speech_dir: Path) -> None:
    from panikid.speech.stt.processor import STTProcessor

    pcm = fixtures.read_pcm(fixtures.cached_speech("What is the capital of France?", speech_dir)).tobytes()
    stt = STTProcessor(components.stt)
    bus = EventBus()
    out = asyncio.run(run_frames(stt, [SpeculationFrame(5, pcm), UtteranceFrame(5, pcm)], bus))
    assert types(out) == ["TranscriptionFrame"]
    assert stt.speculations == 1 and stt.speculation_hits == 1
    # A speculation on other audio (the user spoke on) is not used.
    stt2 = STTProcessor(components.stt)
    out2 = asyncio.run(run_frames(stt2, [SpeculationFrame(6, pcm[: len(pcm) // 2]), UtteranceFrame(6, pcm)]))
    assert stt2.speculation_hits == 0 and "france" in out2[0].text.lower()


@pytest.mark.slow
def test_smart_turn_keeps_a_hesitation_and_ends_a_question_early(speech_dir: Path, tmp_path: Path) -> None:
    """The real model, through the daemon: a thinking pause is waited out, a finished question is not."""
    wake = fixtures.read_pcm(fixtures.cached_speech(fixtures.WAKE_PHRASE, speech_dir, seed=9))
    a = fixtures.read_pcm(fixtures.cached_speech("Set a timer for, um,", speech_dir, seed=9))
    b = fixtures.read_pcm(fixtures.cached_speech("ten minutes.", speech_dir, seed=9))
    q = fixtures.read_pcm(fixtures.cached_speech("What time is it?", speech_dir, seed=9))
    wav = fixtures.compose(tmp_path / "hesitate.wav", [1.0, wake, 0.6, a, 0.9, b, 4.0, wake, 0.6, q, 4.0])
    res = run_cli("run", "--input", str(wav), "--pace", "fast", "--events", "-",
                  env={"PANIKID_TURN_MODEL": "smart-turn-v3.2"})
    assert res.code == 0, res.stderr
    texts = [e["text"] for e in res.of_type("transcript")]
    assert len(texts) == 2, (texts, res.of_type("turn_abandoned"))
    assert similarity(texts[0], "Set a timer for um ten minutes") >= 0.75, texts
    assert [e["name"] for e in res.of_type("intent")] == ["timer_set", "time"]
    stops = res.of_type("speech_stopped")
    assert stops[1]["reason"] == "turn_model", stops


def test_the_chime_heard_right_after_the_wake_word_is_not_the_command(components, speech_dir: Path) -> None:
    """The microphone hears the chime the moment the wake word ends: it must not lengthen the wake word
    (which would then be taken for the command) nor start the command; the model ends the turn early."""
    from panikid.audio import cues
    from panikid.pipeline.frames import WakeWordFrame

    wake = fixtures.read_pcm(fixtures.cached_speech(fixtures.WAKE_PHRASE, speech_dir, seed=7))
    command = fixtures.read_pcm(fixtures.cached_speech("What time is it?", speech_dir, seed=7))
    chime = np.frombuffer(cues.generate("chime", SAMPLE_RATE, 0.3), dtype=np.int16)
    lead, pause = 1.0, 0.4
    detected = lead + len(wake) / SAMPLE_RATE - 0.05
    gap = np.zeros(int(pause * SAMPLE_RATE), np.int16)
    pcm = np.concatenate([np.zeros(int(lead * SAMPLE_RATE), np.int16), wake, gap, command,
                          np.zeros(2 * SAMPLE_RATE, np.int16)]).astype(np.int32)
    at = int((detected + 0.04) * SAMPLE_RATE)  # heard 40 ms after the detection, over the wake word's last sound
    pcm[at : at + len(chime)] += chime
    frames = _frames(np.clip(pcm, -32768, 32767))
    cut = int((detected + 0.03) / 0.03) + 1
    frames = [*frames[:cut], WakeWordFrame("okay_nabu", 0.9, detected), *frames[cut:]]
    det = TurnDetector(WebRtcVad(2), EndOfTurnSegmenter(silence_seconds=1.6), pre_roll_seconds=0.3,
                       cue_seconds=len(chime) / SAMPLE_RATE, turn_model=Scripted(0.9))
    out = asyncio.run(run_frames(det, frames))
    (utt,) = [f for f in out if isinstance(f, UtteranceFrame)]
    assert similarity(components.stt.transcribe(utt.pcm), "What time is it?") >= 0.8
