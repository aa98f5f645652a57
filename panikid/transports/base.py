"""What every audio input and output shares, whatever the device or file.

``InputTransport`` is the head of the pipeline: on ``StartFrame`` it starts a
producer task that reads audio from its source (``read_audio``, 16 kHz mono
s16le in chunks of any size), cuts it into ``InputAudioFrame``s of exactly
``frame_ms`` (the last one padded with silence) whose ``t`` counts samples,
and ends with one ``EndFrame`` when the source is exhausted.

An input may carry an ``audio_filter`` (the audio front end: high-pass, noise
suppression, gain control; :class:`panikid.audio.frontend.InputCleaner`): each
frame passes through it before anything else hears it; each frame's ``level_dbfs`` is measured
before it (how loud the microphone heard the block, which devices compare in wake arbitration). It sits in the
transport, as Pipecat's ``audio_in_filter`` does, so it adds no queue and no
hop, and a fast-paced file is still held back by the first stage that listens.

``OutputTransport`` is the tail: it plays ``OutputAudioFrame``s through
``write``/``drain``/``abort`` and publishes ``audio_started``,
``audio_stopped`` and ``interrupted``. Every frame is passed on, so the
pipeline's sink sees it; ``EndFrame`` only after playback has drained.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any, Protocol

from ..audio.chunker import Chunker
from ..audio.convert import apply_volume
from ..audio.level import block_dbfs
from ..events.schema import AudioStarted, AudioStopped, CuePlayed, Interrupted
from ..pipeline.frames import (
    SAMPLE_RATE,
    CancelFrame,
    CueFrame,
    DataFrame,
    EndFrame,
    ErrorFrame,
    InputAudioFrame,
    InterruptionFrame,
    OutputAudioFrame,
    StartFrame,
    SystemFrame,
    TTSStoppedFrame,
)
from ..pipeline.processor import FrameProcessor

log = logging.getLogger(__name__)

DRAIN_SLACK_SECONDS = 5.0
"""How much longer than the queued audio a drain may take before it is given up."""


class AudioFilter(Protocol):
    """Changes 16 kHz mono s16le audio, block by block, keeping its length for whole 10 ms blocks."""

    @property
    def playing(self) -> bool:
        """The local speaker is playing (the microphone may hear it): what the filter knows of it."""
        ...

    def process(self, pcm: bytes) -> bytes: ...


class InputTransport(FrameProcessor):
    """Base of microphone-like inputs. Subclasses implement ``read_audio``."""

    def __init__(self, frame_ms: int = 30, name: str | None = None, audio_filter: AudioFilter | None = None) -> None:
        super().__init__(name)
        self.audio_filter = audio_filter
        if frame_ms <= 0 or SAMPLE_RATE * frame_ms % 1000:
            raise ValueError(f"frame_ms must be a positive whole number of samples at 16 kHz, got {frame_ms}")
        if audio_filter is not None and frame_ms % 10:
            raise ValueError(f"the audio front end works in 10 ms steps: frame_ms must be a multiple of 10, "
                             f"got {frame_ms}")
        self.frame_ms = frame_ms
        self.frame_bytes = SAMPLE_RATE * frame_ms // 1000 * 2
        self.samples_delivered = 0
        self._producer: asyncio.Task[None] | None = None
        self._end_delivered = False

    async def read_audio(self) -> AsyncIterator[bytes]:
        """Yield 16 kHz mono s16le chunks until the source ends."""
        raise NotImplementedError
        yield b""  # pragma: no cover

    async def process_frame(self, frame: DataFrame) -> None:
        if isinstance(frame, StartFrame):
            await self.push_frame(frame)
            if self._producer is None:
                self._producer = asyncio.create_task(self._produce(), name=f"{self.name}-producer")
        elif isinstance(frame, EndFrame):
            # The runner is stopping: stop reading, pass the end on (only once).
            await self._stop_producer()
            self._deliver_end()
        else:
            await self.push_frame(frame)

    def on_system_frame(self, frame: SystemFrame) -> None:
        if isinstance(frame, CancelFrame) and self._producer is not None:
            self._producer.cancel()

    def _deliver_end(self) -> None:
        if not self._end_delivered:
            self._end_delivered = True
            self.deliver(EndFrame())

    def _deliver_audio(self, pcm: bytes) -> None:
        playing = False
        level = block_dbfs(pcm)  # as captured: the front end would even levels out
        if self.audio_filter is not None:
            pcm = self.audio_filter.process(pcm)  # whole 10 ms steps: as long as it came
            playing = self.audio_filter.playing
        t = self.samples_delivered / SAMPLE_RATE
        self.samples_delivered += len(pcm) // 2
        self.deliver(InputAudioFrame(pcm=pcm, t=t, playing=playing, level_dbfs=level))

    async def _produce(self) -> None:
        chunker = Chunker(self.frame_bytes // 2)
        try:
            async for chunk in self.read_audio():
                for frame in chunker.push(chunk):
                    self._deliver_audio(frame)
            last = chunker.flush_padded()
            if last is not None:
                self._deliver_audio(last)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("%s: audio input failed", self.name)
            self.report_error(f"audio input failed: {exc}")
            self.deliver(ErrorFrame(where=self.name, message=str(exc), fatal=True))
        self._deliver_end()

    async def _stop_producer(self) -> None:
        task, self._producer = self._producer, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def stop(self) -> None:
        await self._stop_producer()
        await super().stop()


class OutputTransport(FrameProcessor):
    """Base of speaker-like outputs. Subclasses implement write / drain / abort."""

    settings_keys = frozenset({"audio.volume"})

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name)
        self.volume = 1.0
        """Playback volume (0 to 1), applied to everything played from then on (``audio.volume``)."""
        self._heard: list[str] = []
        self.playing_turn: int | None = None
        self._interrupted_turns: set[int] = set()

    def apply_settings(self, settings: Mapping[str, Any]) -> None:
        self.volume = max(0.0, min(1.0, float(settings["audio.volume"])))

    # ----------------------------------------------------------- subclass API
    async def write(self, pcm: bytes, sample_rate: int) -> None:
        """Queue mono s16le audio for playback (may wait while the buffer is full)."""
        raise NotImplementedError

    async def drain(self) -> None:
        """Return once everything written has been played."""

    def abort(self) -> None:
        """Stop playback at once and drop everything not yet played (synchronous)."""

    # ----------------------------------------------------------- frames
    async def process_frame(self, frame: DataFrame) -> None:
        if isinstance(frame, OutputAudioFrame):
            await self._play(frame)
        elif isinstance(frame, CueFrame):
            # A cue is no reply: no audio_started / audio_stopped, and no turn is playing.
            self.events.publish(CuePlayed(name=frame.name, seconds=round(len(frame.pcm) / 2 / frame.sample_rate, 3)))
            await self.write(apply_volume(frame.pcm, max(0.0, self.volume)), frame.sample_rate)
        elif isinstance(frame, TTSStoppedFrame):
            if frame.turn == self.playing_turn:
                await self.drain()
                self._finish(frame.turn, interrupted=False)
        elif isinstance(frame, EndFrame):
            await self.drain()
            if self.playing_turn is not None:
                self._finish(self.playing_turn, interrupted=False)
        await self.push_frame(frame)

    async def _play(self, frame: OutputAudioFrame) -> None:
        if frame.turn in self._interrupted_turns:
            return  # never resume a reply that was interrupted
        if frame.turn != self.playing_turn:
            if self.playing_turn is not None:  # a new reply without the old one's stop
                await self.drain()
                self._finish(self.playing_turn, interrupted=False)
            self.playing_turn = frame.turn
            self._heard = []
            self.events.publish(AudioStarted(turn=frame.turn))
        if frame.pcm:
            await self.write(apply_volume(frame.pcm, max(0.0, self.volume)), frame.sample_rate)
            if frame.text:
                self._heard.append(frame.text)  # written at playback pace: heard (the last few ms aside)

    def echo_reduction_db(self) -> float | None:
        """How much the microphone's front end took out of this reply's echo (None: no echo canceller)."""
        return None

    def _finish(self, turn: int, interrupted: bool) -> None:
        self.playing_turn = None
        reduction = self.echo_reduction_db()
        if interrupted:
            # What the user heard before cutting in: whole sentences whose audio was played.
            self.events.publish(AudioStopped(turn=turn, interrupted=True, heard_text=" ".join(self._heard),
                                             echo_reduction_db=reduction))
        else:
            self.events.publish(AudioStopped(turn=turn, interrupted=False, echo_reduction_db=reduction))

    def on_system_frame(self, frame: SystemFrame) -> None:
        if isinstance(frame, InterruptionFrame):
            turn = self.playing_turn
            self.abort()
            if turn is not None:
                self._interrupted_turns.add(turn)
                if len(self._interrupted_turns) > 64:
                    self._interrupted_turns.discard(min(self._interrupted_turns))
                self.events.publish(Interrupted(turn=turn))
                self._finish(turn, interrupted=True)
        elif isinstance(frame, CancelFrame):
            self.abort()
