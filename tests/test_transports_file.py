"""WAV files as microphone and speaker, through a real pipeline."""

from __future__ import annotations

import asyncio
import functools
import time
import wave
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from panikid import events as ev
from panikid.audio.convert import float_to_pcm16, peak_frequency, sine
from panikid.audio.wav import AudioInputError, read_wav, write_wav
from panikid.events import EventBus
from panikid.pipeline.frames import (
    EndFrame,
    InputAudioFrame,
    InterruptionFrame,
    OutputAudioFrame,
    TTSStoppedFrame,
)
from panikid.pipeline.processor import FrameProcessor
from panikid.pipeline.runner import Pipeline, PipelineRunner
from panikid.pipeline.testing import Recorder, run, run_frames, run_with_loop_checks
from panikid.transports.file import FileInputTransport, FileOutputTransport


def aio(fn: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async test in a fresh event loop, bounded so that it can never hang."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        run(fn(*args, **kwargs), timeout=60)

    return wrapper


async def _run_input(transport: FileInputTransport, deadline: float = 30.0) -> list[object]:
    sink = FrameProcessor("sink")
    pipeline = Pipeline([transport, sink])
    pipeline.keep_delivered = True
    runner = PipelineRunner(pipeline, EventBus())
    await runner.start()
    try:
        assert await runner.wait_ended(deadline), "the input never ended"
        return list(pipeline.delivered)
    finally:
        await runner.cancel()


@pytest.mark.parametrize("frame_ms", [20, 30])
@aio
async def test_file_input_delivers_the_whole_file(tmp_path: Path, frame_ms: int,
                                                  tone_wav: Callable[..., bytes]) -> None:
    # 1.01 s does not divide into frames: the last frame is padded with silence.
    pcm = tone_wav(tmp_path / "in.wav", 1.01)
    frames = await _run_input(FileInputTransport(tmp_path / "in.wav", pace="fast", frame_ms=frame_ms))
    audio = [f for f in frames if isinstance(f, InputAudioFrame)]
    ends = [f for f in frames if isinstance(f, EndFrame)]
    assert len(ends) == 1 and isinstance(frames[-1], EndFrame)
    n = frame_ms * 16
    assert all(len(f.pcm) == n * 2 for f in audio)
    assert [f.t for f in audio] == pytest.approx([i * frame_ms / 1000 for i in range(len(audio))])
    joined = b"".join(f.pcm for f in audio)
    assert joined[: len(pcm)] == pcm
    assert joined[len(pcm) :] == bytes(len(joined) - len(pcm))
    assert len(audio) == -(-len(pcm) // (n * 2))


@aio
async def test_file_input_converts_other_formats(tmp_path: Path) -> None:
    x = sine(1000, 0.6, 44100)
    write_wav(tmp_path / "hi.wav", float_to_pcm16(x), 44100)
    frames = await _run_input(FileInputTransport(tmp_path / "hi.wav", pace="fast"))
    pcm = b"".join(f.pcm for f in frames if isinstance(f, InputAudioFrame))
    assert len(pcm) / 2 / 16000 == pytest.approx(0.6, abs=0.03)
    assert peak_frequency(pcm[: int(0.6 * 16000) * 2], 16000) == pytest.approx(1000, abs=2)


@aio
async def test_file_input_realtime_takes_the_file_duration(tmp_path: Path, tone_wav: Callable[..., bytes]) -> None:
    tone_wav(tmp_path / "in.wav", 1.2)
    started = time.monotonic()
    frames = await _run_input(FileInputTransport(tmp_path / "in.wav", pace="realtime"))
    elapsed = time.monotonic() - started
    assert elapsed >= 0.8 * 1.2
    assert sum(isinstance(f, InputAudioFrame) for f in frames) == 40


@aio
async def test_file_input_stops_when_the_runner_stops(tmp_path: Path, tone_wav: Callable[..., bytes]) -> None:
    tone_wav(tmp_path / "long.wav", 30.0)
    transport = FileInputTransport(tmp_path / "long.wav", pace="realtime")
    sink = Recorder("sink")
    pipeline = Pipeline([transport, sink])
    pipeline.keep_delivered = True
    runner = PipelineRunner(pipeline, EventBus())
    await runner.start()
    await sink.wait_for(InputAudioFrame, 10)
    assert await runner.stop(timeout=10)
    ends = [f for f in pipeline.delivered if isinstance(f, EndFrame)]
    assert len(ends) == 1
    assert transport.samples_delivered < 30 * 16000  # it did not read on to the end


@aio
async def test_file_input_missing_file_fails_at_setup(tmp_path: Path) -> None:
    transport = FileInputTransport(tmp_path / "missing.wav")
    with pytest.raises(AudioInputError, match="missing.wav does not exist"):
        await transport.setup(EventBus())


def _reply(turn: int, pcm: bytes, rate: int, chunk: int) -> list[OutputAudioFrame]:
    return [OutputAudioFrame(turn, pcm[i : i + chunk], rate) for i in range(0, len(pcm), chunk)]


@pytest.mark.parametrize("pace", ["fast", "realtime"])
@aio
async def test_file_output_writes_the_reply_and_publishes_events(tmp_path: Path, pace: str) -> None:
    bus = EventBus()
    pcm = float_to_pcm16(sine(440, 0.6, 22050))
    frames = [*_reply(1, pcm, 22050, 4410), TTSStoppedFrame(1)]
    out = tmp_path / "out.wav"
    started = time.monotonic()
    delivered = await run_frames(FileOutputTransport(out, pace=pace), frames, events=bus)
    elapsed = time.monotonic() - started
    assert delivered == frames  # everything is passed on to the sink
    types = [(e.type, e.data) for e in bus.history]
    assert types == [
        (ev.AUDIO_STARTED, {"turn": 1}),
        (ev.AUDIO_STOPPED, {"turn": 1, "interrupted": False}),
    ]
    written, info = read_wav(out)
    assert info.sample_rate == 22050
    assert info.duration == pytest.approx(0.6, abs=0.001)
    assert peak_frequency(written, 16000) == pytest.approx(440, abs=2)
    if pace == "realtime":
        assert elapsed >= 0.8 * 0.6


@aio
async def test_file_output_converts_to_one_rate(tmp_path: Path) -> None:
    bus = EventBus()
    a = float_to_pcm16(sine(440, 0.5, 22050))
    b = float_to_pcm16(sine(1000, 0.5, 16000))
    frames = [*_reply(1, a, 22050, 2205), TTSStoppedFrame(1), *_reply(2, b, 16000, 1600), TTSStoppedFrame(2)]
    out = tmp_path / "out.wav"
    await run_frames(FileOutputTransport(out, pace="fast", sample_rate=48000), frames, events=bus)
    pcm, info = read_wav(out)
    assert info.sample_rate == 48000
    assert info.duration == pytest.approx(1.0, abs=0.002)
    assert peak_frequency(pcm[: 8000 * 2], 16000) == pytest.approx(440, abs=3)
    assert peak_frequency(pcm[8000 * 2 :], 16000) == pytest.approx(1000, abs=3)
    assert [(e.type, e.data["turn"]) for e in bus.history] == [
        (ev.AUDIO_STARTED, 1), (ev.AUDIO_STOPPED, 1), (ev.AUDIO_STARTED, 2), (ev.AUDIO_STOPPED, 2),
    ]


@aio
async def test_file_output_without_audio_leaves_an_empty_valid_wav(tmp_path: Path) -> None:
    out = tmp_path / "silent.wav"
    await run_frames(FileOutputTransport(out, pace="fast"), [])
    with pytest.raises(AudioInputError, match="contains no audio"):
        read_wav(out)


@aio
async def test_file_output_interruption_stops_writing(tmp_path: Path) -> None:
    bus = EventBus()
    transport = FileOutputTransport(tmp_path / "out.wav", pace="realtime")
    sink = FrameProcessor("sink")
    pipeline = Pipeline([transport, sink])
    pipeline.keep_delivered = True
    runner = PipelineRunner(pipeline, bus)
    started = asyncio.Event()
    bus.listen(lambda e: started.set() if e.type == ev.AUDIO_STARTED else None)
    await runner.start()
    pcm = float_to_pcm16(sine(440, 5.0, 22050))
    for frame in _reply(7, pcm, 22050, 2205):
        pipeline.queue_frame(frame)
    pipeline.queue_frame(TTSStoppedFrame(7))
    await asyncio.wait_for(started.wait(), 10)
    pipeline.queue_frame(InterruptionFrame())
    # Late audio of the interrupted reply is not played again.
    pipeline.queue_frame(OutputAudioFrame(7, pcm[:4410], 22050))
    try:
        assert await runner.stop(timeout=10)
    finally:
        await runner.cancel()
    assert [(e.type, e.data) for e in bus.history] == [
        (ev.AUDIO_STARTED, {"turn": 7}),
        (ev.INTERRUPTED, {"turn": 7}),
        (ev.AUDIO_STOPPED, {"turn": 7, "interrupted": True, "heard_text": ""}),
    ]
    written, info = read_wav(tmp_path / "out.wav")
    assert 0 < info.duration < 4.0  # far from the whole 5 s reply
    assert transport.dropped_frames > 0
    assert any(isinstance(f, InterruptionFrame) for f in pipeline.delivered)
    assert np.any(np.frombuffer(written, dtype="<i2") != 0)


def test_bad_pace() -> None:
    with pytest.raises(ValueError, match="pace must be one of realtime, fast"):
        FileOutputTransport("x.wav", pace="slow")


def test_fast_file_input_never_holds_the_event_loop(tmp_path: Path, tone_wav: Callable[..., bytes]) -> None:
    tone_wav(tmp_path / "long.wav", 20.0)
    counted: list[int] = []

    async def scenario() -> None:
        frames = await _run_input(FileInputTransport(tmp_path / "long.wav", pace="fast"))
        counted.append(sum(isinstance(f, InputAudioFrame) for f in frames))

    slow = run_with_loop_checks(scenario(), slow=0.05, timeout=60)
    assert counted == [667]
    assert slow == []


@aio
async def test_output_volume_scales_what_is_played(tmp_path: Path) -> None:
    pcm = float_to_pcm16(sine(440, 0.5, 22050, amplitude=0.5))
    levels = []
    for volume in (1.0, 0.3):
        out = tmp_path / f"v{volume}.wav"
        transport = FileOutputTransport(out, pace="fast")
        transport.volume = volume
        await run_frames(transport, [*_reply(1, pcm, 22050, 4410), TTSStoppedFrame(1)])
        with wave.open(str(out)) as w:
            samples = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float64)
        levels.append(np.sqrt(np.mean(samples**2)))
    assert levels[1] / levels[0] == pytest.approx(0.3, abs=0.01)


@aio
async def test_interruption_reports_the_sentences_that_were_heard(tmp_path: Path) -> None:
    """Whole sentences whose audio was played are what the user heard; the one cut off is not."""
    bus = EventBus()
    pipeline = Pipeline([FileOutputTransport(tmp_path / "out.wav", pace="realtime")])
    runner = PipelineRunner(pipeline, bus)
    second_started = asyncio.Event()
    bus.listen(lambda e: None)
    await runner.start()
    first = float_to_pcm16(sine(440, 0.4, 22050))
    second = float_to_pcm16(sine(550, 3.0, 22050))
    pipeline.queue_frame(OutputAudioFrame(5, first, 22050, "It is sunny."))
    pipeline.queue_frame(OutputAudioFrame(5, second, 22050, "Tomorrow it will rain all day long."))
    pipeline.queue_frame(TTSStoppedFrame(5))
    loop = asyncio.get_running_loop()
    loop.call_later(1.2, second_started.set)  # well into the second sentence
    await asyncio.wait_for(second_started.wait(), 10)
    pipeline.queue_frame(InterruptionFrame())
    try:
        await runner.stop(timeout=10)
    finally:
        await runner.cancel()
    (stopped,) = [e for e in bus.history if e.type == ev.AUDIO_STOPPED]
    assert stopped.data == {"turn": 5, "interrupted": True, "heard_text": "It is sunny."}

