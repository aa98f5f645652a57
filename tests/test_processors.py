"""Each speech processor through the frame helper, with the real default models."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from panikid.brains.processor import AssistantProcessor
from panikid.devtools import fixtures
from panikid.events import EventBus
from panikid.pipeline.frames import (
    SAMPLE_RATE,
    InputAudioFrame,
    InterruptionFrame,
    ListenFrame,
    LLMResponseEndFrame,
    LLMResponseStartFrame,
    LLMTextFrame,
    MuteFrame,
    OutputAudioFrame,
    SpeculationFrame,
    TranscriptionFrame,
    TTSSpeakFrame,
    TTSStoppedFrame,
    TurnAbandonedFrame,
    UserStartedSpeakingFrame,
    UtteranceFrame,
    WakeWordFrame,
)
from panikid.pipeline.testing import run, run_frames, types
from panikid.speech.stt.processor import STTProcessor
from panikid.speech.tts.processor import SentenceAggregator, TTSProcessor
from panikid.speech.turn.processor import TurnDetector
from panikid.speech.turn.segmenter import EndOfTurnSegmenter
from panikid.speech.turn.vad import WebRtcVad
from panikid.speech.wake.detector import WakeDetector
from panikid.speech.wake.engines import WakeModelError, find_model, load_engines
from panikid.speech.wake.processor import WakeWordProcessor


def audio_frames(samples: np.ndarray, frame_ms: int = 30) -> list[InputAudioFrame]:
    n = SAMPLE_RATE * frame_ms // 1000
    pcm = samples.astype(np.int16).tobytes()
    return [InputAudioFrame(pcm[i : i + 2 * n], i / 2 / SAMPLE_RATE) for i in range(0, len(pcm), 2 * n)]


# ----------------------------------------------------------------------------- wake word

def test_wake_detector_threshold_and_cooldown() -> None:
    d = WakeDetector(threshold=0.8, cooldown_seconds=2.0)
    assert d.process("m", 0.0, 0.5) is None
    hit = d.process("m", 0.1, 0.9)
    assert hit is not None and hit.t == 0.1 and hit.score == 0.9
    assert d.process("m", 1.0, 0.99) is None  # cooldown
    assert d.process("m", 2.2, 0.95) is not None


def test_wake_processor_hears_okay_nabu(speech_dir: Path) -> None:
    wav = fixtures.utterance(speech_dir, "What time is it?", pause=0.4)
    frames = audio_frames(fixtures.read_pcm(wav))
    bus = EventBus()
    proc = WakeWordProcessor(load_engines("micro", ["okay_nabu"]))
    out = run(run_frames(proc, frames, bus))
    wakes = [f for f in out if isinstance(f, WakeWordFrame)]
    assert len(wakes) == 1 and wakes[0].model == "okay_nabu"
    assert 1.0 < wakes[0].t < 3.0  # the wake phrase starts after 1 s of silence
    # Audio is passed on untouched, and the interruption precedes the wake frame.
    assert sum(isinstance(f, InputAudioFrame) for f in out) == len(frames)
    i = out.index(wakes[0])
    assert isinstance(out[i - 1], InterruptionFrame)
    assert [e.type for e in bus.history] == ["wake"]


def test_wake_processor_ignores_other_speech_and_mute(no_wake_speech: Path, wake_and_command: Path) -> None:
    out = run(run_frames(WakeWordProcessor(load_engines("micro", ["okay_nabu"])),
                         audio_frames(fixtures.read_pcm(no_wake_speech))))
    assert not any(isinstance(f, WakeWordFrame) for f in out)
    muted = [MuteFrame(True), *audio_frames(fixtures.read_pcm(wake_and_command))]
    out = run(run_frames(WakeWordProcessor(load_engines("micro", ["okay_nabu"])), muted))
    assert not any(isinstance(f, WakeWordFrame) for f in out)


def test_custom_wake_model_directory(tmp_path: Path) -> None:
    import shutil

    builtin = find_model("micro", "okay_nabu")
    shutil.copy(builtin, tmp_path / "my_word.json")
    shutil.copy(builtin.with_suffix(".tflite"), tmp_path / "okay_nabu.tflite")
    assert find_model("micro", "my_word", str(tmp_path)) == tmp_path / "my_word.json"
    engines = load_engines("micro", ["my_word"], str(tmp_path))
    assert engines[0].default_threshold > 0
    with pytest.raises(WakeModelError, match="hey_nobody"):
        find_model("micro", "hey_nobody", str(tmp_path))


# ----------------------------------------------------------------------------- turn detector

def _turn_frames(speech_dir: Path, command: str, pause: float) -> list:
    wav = fixtures.utterance(speech_dir, command, pause=pause)
    frames = audio_frames(fixtures.read_pcm(wav))
    # The wake word as the wake processor would report it: where the phrase ends.
    wake_t = 1.0 + len(fixtures.read_pcm(fixtures.cached_speech(fixtures.WAKE_PHRASE, speech_dir))) / SAMPLE_RATE
    cut = int((wake_t + 0.3) / 0.03)
    return frames[:cut] + [WakeWordFrame("okay_nabu", 0.9, wake_t)] + frames[cut:]


def test_turn_detector_cuts_the_utterance(speech_dir: Path) -> None:
    bus = EventBus()
    proc = TurnDetector(WebRtcVad(2), EndOfTurnSegmenter(silence_seconds=0.6), pre_roll_seconds=0.0)
    out = [f for f in run(run_frames(proc, _turn_frames(speech_dir, "What time is it?", 0.4), bus))
           if not isinstance(f, SpeculationFrame)]  # the utterance sent ahead at a pause
    assert types(out) == ["ListeningFrame", "UserStartedSpeakingFrame", "UserStoppedSpeakingFrame", "UtteranceFrame"]
    utt = out[-1]
    assert isinstance(utt, UtteranceFrame)
    command_s = len(fixtures.read_pcm(fixtures.cached_speech("What time is it?", speech_dir))) / SAMPLE_RATE
    got_s = len(utt.pcm) / 2 / SAMPLE_RATE
    assert command_s * 0.7 < got_s < command_s + 0.4 + 0.6, (got_s, command_s)
    assert [e.type for e in bus.history] == ["speech_started", "speech_stopped"]


def test_turn_detector_no_speech_after_wake(speech_dir: Path) -> None:
    frames = audio_frames(np.zeros(SAMPLE_RATE * 3, dtype=np.int16))
    frames.insert(10, WakeWordFrame("okay_nabu", 0.9, 0.3))
    bus = EventBus()
    run(run_frames(TurnDetector(WebRtcVad(2), EndOfTurnSegmenter(no_speech_seconds=1.0)), frames, bus,
                   expect=["ListeningFrame", "TurnAbandonedFrame"]))
    assert [e.type for e in bus.history] == ["no_speech", "turn_abandoned"]
    assert bus.of_type("turn_abandoned")[0].data["reason"] == "no_speech"


def test_turn_detector_listen_command_and_mute(speech_dir: Path) -> None:
    command = fixtures.read_pcm(fixtures.cached_speech("Turn on the lights.", speech_dir))
    frames = audio_frames(np.concatenate([np.zeros(8000, np.int16), command, np.zeros(16000, np.int16)]))
    out = run(run_frames(TurnDetector(WebRtcVad(2), EndOfTurnSegmenter()), [ListenFrame(), *frames]))
    assert types(out)[-1] == "UtteranceFrame"
    # Muted: a wake word starts nothing.
    frames2 = [MuteFrame(True), *frames[:5], WakeWordFrame("okay_nabu", 0.9, 0.1), *frames[5:]]
    out = run(run_frames(TurnDetector(WebRtcVad(2), EndOfTurnSegmenter()), frames2))
    assert not any(isinstance(f, (UserStartedSpeakingFrame, UtteranceFrame)) for f in out)


def test_end_of_input_mid_speech_finishes_the_turn(speech_dir: Path) -> None:
    command = fixtures.read_pcm(fixtures.cached_speech("What time is it?", speech_dir))
    frames = [ListenFrame(), *audio_frames(command)]  # input ends while speaking
    out = [f for f in run(run_frames(TurnDetector(WebRtcVad(2), EndOfTurnSegmenter()), frames))
           if not isinstance(f, SpeculationFrame)]
    assert types(out) == ["ListeningFrame", "UserStartedSpeakingFrame", "UserStoppedSpeakingFrame", "UtteranceFrame"]


# ----------------------------------------------------------------------------- STT

def test_stt_processor_transcribes_in_the_worker(components, speech_dir: Path) -> None:
    pcm = fixtures.read_pcm(fixtures.cached_speech("What is the capital of France?", speech_dir)).tobytes()
    bus = EventBus()
    out = run(run_frames(STTProcessor(components.stt), [UtteranceFrame(7, pcm)], bus, expect=["TranscriptionFrame"]))
    assert out[0].turn == 7 and "capital of france" in out[0].text.lower()
    (e,) = bus.of_type("transcript")
    assert e.data["stt_ms"] > 0 and e.data["turn"] == 7


def test_stt_silence_abandons_the_turn(components) -> None:
    silence = np.zeros(SAMPLE_RATE, dtype=np.int16).tobytes()
    run(run_frames(STTProcessor(components.stt), [UtteranceFrame(3, silence)], expect=["TurnAbandonedFrame"]))


# ----------------------------------------------------------------------------- LLM

def test_assistant_streams_a_reply(components) -> None:
    bus = EventBus()
    proc = AssistantProcessor(components.llm, "Answer in one short sentence.")
    out = run(run_frames(proc, [TranscriptionFrame(2, "Say hello.")], bus))
    kinds = types(out)
    assert kinds[0] == "LLMResponseStartFrame" and kinds[-1] == "LLMResponseEndFrame"
    pieces = [f.text for f in out if isinstance(f, LLMTextFrame)]
    assert len(pieces) >= 2  # streamed, not one block
    assert out[-1].text == "".join(pieces).strip()
    (e,) = bus.of_type("reply")
    assert e.data["backend"] == "local" and e.data["llm_ttft_ms"] > 0 and e.data["text"]


class _Recorder:
    """A backend that answers "Fine." and keeps the messages of every call."""

    name = "recorder"

    def __init__(self) -> None:
        self.seen: list[list[dict[str, str]]] = []

    def stream(self, messages, cancel):  # type: ignore[no-untyped-def]
        self.seen.append(messages)
        yield "Fine."


def test_the_system_prompt_carries_the_date_and_stays_the_same_all_morning() -> None:
    from panikid.brains.context import Conversation

    clock = [dt.datetime(2026, 3, 5, 9, 7)]
    rec = _Recorder()
    proc = AssistantProcessor(rec, "Be brief.", clock=lambda: clock[0], persona="You are Nabu.",
                              conversation=Conversation(), monotonic=lambda: 0.0)

    def ask(turn: int, text: str) -> list[dict[str, str]]:
        run(run_frames(proc, [TranscriptionFrame(turn, text)]))
        return rec.seen[-1]

    first = ask(1, "Who wrote Hamlet?")
    assert first == [{"role": "system",
                      "content": "Be brief.\nYou are Nabu.\nIt is now Thursday 05 March 2026, in the morning."},
                     {"role": "user", "content": "Who wrote Hamlet?"}]
    clock[0] = dt.datetime(2026, 3, 5, 11, 52)
    second = ask(2, "When was he born?")
    # Everything the model read last turn is an unchanged prefix of this turn's prompt (its cache stays valid).
    assert second[: len(first)] == first
    assert second[len(first):] == [{"role": "assistant", "content": "Fine."},
                                   {"role": "user", "content": "When was he born?"}]
    clock[0] = dt.datetime(2026, 3, 5, 14, 0)
    assert ask(3, "And Macbeth?")[0]["content"].endswith("in the afternoon.")


class _SlowBackend:
    """A backend whose generation is observable: counts pieces, sees the cancel flag."""

    name = "slow"

    def __init__(self) -> None:
        self.cancelled = threading.Event()
        self.produced = 0

    def stream(self, messages, cancel: threading.Event) -> Iterator[str]:  # noqa: ANN001
        for i in range(200):
            if cancel.wait(0.02):
                self.cancelled.set()
                return
            self.produced += 1
            yield f"word{i} "


def test_interruption_cancels_generation_in_the_worker() -> None:
    backend = _SlowBackend()

    async def scenario() -> list:
        from panikid.pipeline.runner import Pipeline, PipelineRunner

        proc = AssistantProcessor(backend, "x")
        pipe = Pipeline([proc])
        pipe.keep_delivered = True
        runner = PipelineRunner(pipe)
        await runner.start()
        pipe.queue_frame(TranscriptionFrame(1, "talk a lot"))
        while backend.produced < 5:  # noqa: ASYNC110 (the backend runs in a thread)
            await asyncio.sleep(0.01)
        pipe.queue_frame(InterruptionFrame())
        await asyncio.to_thread(backend.cancelled.wait, 5)
        await runner.cancel()
        return pipe.delivered

    delivered = run(scenario())
    assert backend.cancelled.is_set()
    assert backend.produced < 200
    assert not any(isinstance(f, LLMResponseEndFrame) for f in delivered)


# ----------------------------------------------------------------------------- sentences + TTS

def test_sentence_aggregator_releases_first_sentence_early() -> None:
    frames = [LLMResponseStartFrame(1)] + [LLMTextFrame(1, t) for t in
              ["It is ", "ten past ", "two. ", "Have a ", "nice day", "!"]] + [LLMResponseEndFrame(1)]
    out = run(run_frames(SentenceAggregator(), frames,
                         expect=["LLMResponseStartFrame", "TTSSpeakFrame", "TTSSpeakFrame"]))
    speak = [f for f in out if isinstance(f, TTSSpeakFrame)]
    assert [s.text for s in speak] == ["It is ten past two.", "Have a nice day!"]
    assert [s.last for s in speak] == [False, True]


def test_empty_reply_abandons_the_turn() -> None:
    run(run_frames(SentenceAggregator(), [LLMResponseStartFrame(1), LLMResponseEndFrame(1)],
                   expect=["LLMResponseStartFrame", "TurnAbandonedFrame"]))


def test_tts_speaks_each_sentence(components) -> None:
    bus = EventBus()
    frames = [TTSSpeakFrame(4, "Hello there."), TTSSpeakFrame(4, "It is sunny.", last=True)]
    out = run(run_frames(TTSProcessor(components.tts), frames, bus,
                         expect=["OutputAudioFrame", "OutputAudioFrame", "TTSStoppedFrame"]))
    audio = [f for f in out if isinstance(f, OutputAudioFrame)]
    assert all(f.sample_rate == 22050 and len(f.pcm) > 22050 for f in audio)
    assert isinstance(out[-1], TTSStoppedFrame) and out[-1].turn == 4
    assert bus.of_type("tts_started")[0].data["tts_ttfb_ms"] > 0
    # The speech is intelligible: whisper hears the words back.
    import soxr

    pcm = np.frombuffer(audio[0].pcm, np.int16).astype(np.float32)
    back = soxr.resample(pcm, 22050, 16000).astype(np.int16).tobytes()
    assert "hello" in components.stt.transcribe_recording(back).lower()


def test_abandoned_turn_passes_through_everything(components) -> None:
    procs = [STTProcessor(components.stt), AssistantProcessor(components.llm, "x"), SentenceAggregator(),
             TTSProcessor(components.tts)]
    run(run_frames(procs, [TurnAbandonedFrame(9, "no speech")], expect=["TurnAbandonedFrame"]))
