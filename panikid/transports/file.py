"""WAV files as the microphone and the speaker (``panikid run --input/--output``).

Pace ``realtime`` behaves like real hardware: the input delivers each frame
when it would have been captured (paced against the monotonic clock from one
start time, so no drift accumulates), and the output takes as long to "play"
audio as a speaker would, so ``audio_stopped`` comes when the audio would
have finished and an interruption cuts the file where playback stood.
Pace ``fast`` runs as fast as the pipeline takes the frames.

The output file holds everything the speaker played, back to back (the
silence between replies is not written), at one rate: ``sample_rate`` if
given, else the rate of the first audio frame.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

from ..audio.convert import StreamResampler
from ..audio.wav import WavInfo, WavWriter, read_wav
from ..events import EventBus
from ..pipeline.frames import SAMPLE_RATE
from .base import AudioFilter, InputTransport, OutputTransport

PACES = ("realtime", "fast")
PIECE_SECONDS = 0.02
"""At real-time pace the output is written in pieces of this length, each when it starts playing."""


FAST_BACKLOG_FRAMES = 2
"""At fast pace, frames the next processor may have queued before reading pauses."""


def _check_pace(pace: str) -> str:
    if pace not in PACES:
        raise ValueError(f"pace must be one of {', '.join(PACES)}, got {pace!r}")
    return pace


class FileInputTransport(InputTransport):
    """Reads a WAV file (any common format, converted to 16 kHz mono) as the microphone."""

    def __init__(self, path: str | os.PathLike[str], pace: str = "realtime", frame_ms: int = 30,
                 hold: asyncio.Event | None = None, audio_filter: AudioFilter | None = None) -> None:
        super().__init__(frame_ms=frame_ms, name="FileInput", audio_filter=audio_filter)
        self.path = Path(path)
        self.pace = _check_pace(pace)
        self.pcm = b""
        self.info: WavInfo | None = None
        self.hold = hold
        """At fast pace, reading waits while this event is clear (the daemon clears it
        while a turn is being answered, so a fast file never runs ahead of the replies)."""

    async def setup(self, events: EventBus) -> None:
        await super().setup(events)
        # Fails early (before any frame flows) with an AudioInputError naming the file.
        self.pcm, self.info = await asyncio.to_thread(read_wav, self.path)

    @property
    def duration(self) -> float:
        return len(self.pcm) / 2 / SAMPLE_RATE

    async def read_audio(self) -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        start = loop.time()
        step = self.frame_ms / 1000
        for i, pos in enumerate(range(0, len(self.pcm), self.frame_bytes)):
            if self.pace == "realtime":
                # A microphone hands a block over once it has been captured.
                delay = start + (i + 1) * step - loop.time()
                await asyncio.sleep(max(0.0, delay))
            else:
                # As fast as the pipeline takes the audio, never further ahead.
                await asyncio.sleep(0)
                while self._next is not None and self._next.queued() > FAST_BACKLOG_FRAMES:  # noqa: ASYNC110
                    await asyncio.sleep(0.001)  # polling a queue length: there is no event to wait on
                if self.hold is not None:
                    await self.hold.wait()
            yield self.pcm[pos : pos + self.frame_bytes]


class FileOutputTransport(OutputTransport):
    """Writes everything the speaker would play to a WAV file (mono s16le)."""

    def __init__(
        self, path: str | os.PathLike[str], pace: str = "realtime", sample_rate: int | None = None
    ) -> None:
        super().__init__(name="FileOutput")
        self.path = Path(path)
        self.pace = _check_pace(pace)
        self.sample_rate = sample_rate
        self.writer: WavWriter | None = None
        self._resamplers: dict[int, StreamResampler] = {}
        self._play_end = 0.0  # loop time at which the audio written so far has been played

    async def setup(self, events: EventBus) -> None:
        await super().setup(events)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def _open(self, rate: int) -> WavWriter:
        if self.writer is None:
            self.writer = WavWriter(self.path, self.sample_rate or rate)
        return self.writer

    async def write(self, pcm: bytes, sample_rate: int) -> None:
        writer = self._open(sample_rate)
        if sample_rate != writer.sample_rate:
            rs = self._resamplers.get(sample_rate)
            if rs is None:
                rs = self._resamplers[sample_rate] = StreamResampler(sample_rate, writer.sample_rate)
            pcm = rs.process_pcm16(pcm)
        await self._emit(writer, pcm)

    async def _emit(self, writer: WavWriter, pcm: bytes) -> None:
        if self.pace == "fast":
            writer.write(pcm)
            return
        loop = asyncio.get_running_loop()
        piece = max(2, int(writer.sample_rate * PIECE_SECONDS) * 2)
        for pos in range(0, len(pcm), piece):
            now = loop.time()
            if self._play_end < now:  # the speaker was idle: this piece plays now
                self._play_end = now
            elif self._play_end > now:
                await asyncio.sleep(self._play_end - now)
            chunk = pcm[pos : pos + piece]
            writer.write(chunk)
            self._play_end += len(chunk) / 2 / writer.sample_rate

    async def drain(self) -> None:
        if self.writer is None:
            return
        for rs in self._resamplers.values():  # the filters' tails end the reply
            tail = rs.flush_pcm16()
            if tail:
                await self._emit(self.writer, tail)
        self.writer.flush()
        if self.pace == "realtime":
            loop = asyncio.get_running_loop()
            remaining = self._play_end - loop.time()
            if remaining > 0:
                await asyncio.sleep(remaining)

    def abort(self) -> None:
        for rs in self._resamplers.values():
            rs.reset()
        self._play_end = 0.0
        if self.writer is not None:
            self.writer.flush()

    async def cleanup(self) -> None:
        if self.writer is None:  # nothing was played: still leave a valid (empty) WAV
            self.writer = WavWriter(self.path, self.sample_rate or SAMPLE_RATE)
        self.writer.close()
        await super().cleanup()
