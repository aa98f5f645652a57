"""The transports that hand the floor between the local audio and a remote session (panikid.transports.remote).

``FloorInput`` is the pipeline's input: it reads its local source (the microphone, or ``SilenceSource``
on a machine without one) and, while a remote session holds the floor, passes on the session's audio in
its place, block for block, so the pipeline's clock never stops (the service watchdog wants audio frames
whoever speaks). ``FloorOutput`` is the pipeline's output: it plays to the session holding the floor, or
to the local output otherwise.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

from ..audio.convert import StreamResampler, float_to_pcm16, pcm16_to_float
from ..events import EventBus
from ..pipeline.processor import FrameProcessor
from .base import DRAIN_SLACK_SECONDS, AudioFilter, InputTransport, OutputTransport
from .remote import RemoteFloor, RemoteSession

log = logging.getLogger(__name__)


class SilenceSource(InputTransport):
    """Real-time silence: the clock of a machine without a microphone (remote sessions only)."""

    def __init__(self, frame_ms: int = 20) -> None:
        super().__init__(frame_ms=frame_ms, name="Silence")

    async def read_audio(self) -> AsyncIterator[bytes]:
        block = bytes(self.frame_bytes)
        step = self.frame_ms / 1000
        due = time.monotonic()
        while True:
            due += step
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -1.0:  # the loop was blocked: do not catch up a second of silence at once
                due = time.monotonic()
            yield block


class FloorInput(InputTransport):
    """The local source's audio, or the remote session's while one holds the floor."""

    def __init__(self, local: InputTransport, floor: RemoteFloor, audio_filter: AudioFilter | None = None) -> None:
        super().__init__(frame_ms=local.frame_ms, name=f"Floor({local.name})", audio_filter=audio_filter)
        self.local = local
        self.floor = floor
        self.remote_blocks = 0

    def link(self, nxt: FrameProcessor) -> None:
        super().link(nxt)
        self.local.link(nxt)  # a fast-paced file reads only as fast as the next stage takes it

    async def setup(self, events: EventBus) -> None:
        await super().setup(events)
        await self.local.setup(events)

    async def cleanup(self) -> None:
        await self.local.cleanup()
        await super().cleanup()

    async def read_audio(self) -> AsyncIterator[bytes]:
        async for chunk in self.local.read_audio():
            session = self.floor.active()
            if session is not None:
                self.remote_blocks += 1
                chunk = session.inbound.take(len(chunk) - len(chunk) % 2)
            yield chunk


class FloorOutput(OutputTransport):
    """Replies and cues to the remote session holding the floor, or to the local output."""

    def __init__(self, local: OutputTransport, floor: RemoteFloor) -> None:
        super().__init__(name=f"Floor({local.name})")
        self.local = local
        self.floor = floor
        self.volume = local.volume
        self._resamplers: dict[tuple[int, int], StreamResampler] = {}
        self._remote_unplayed: RemoteSession | None = None
        self._last_rate = 0  # the rate of the last audio written to a session

    async def setup(self, events: EventBus) -> None:
        await super().setup(events)
        await self.local.setup(events)

    async def cleanup(self) -> None:
        await self.local.cleanup()
        await super().cleanup()

    def echo_reduction_db(self) -> float | None:
        return self.local.echo_reduction_db()

    def _convert(self, pcm: bytes, rate: int, out_rate: int, last: bool = False) -> bytes:
        if rate == out_rate:
            return pcm
        rs = self._resamplers.get((rate, out_rate))
        if rs is None:
            rs = self._resamplers[(rate, out_rate)] = StreamResampler(rate, out_rate, quality="MQ")
        return float_to_pcm16(rs.process(pcm16_to_float(pcm), last=last))

    async def write(self, pcm: bytes, sample_rate: int) -> None:
        session = self.floor.active()
        if session is None:
            await self.local.write(pcm, sample_rate)
            return
        self._remote_unplayed = session
        self._last_rate = sample_rate
        await session.playback.put(self._convert(pcm, sample_rate, session.out_rate))

    async def drain(self) -> None:
        session, self._remote_unplayed = self._remote_unplayed, None
        if session is not None and not session.ended.is_set():
            tail = self._convert(b"", self._last_rate, session.out_rate, last=True)
            if tail:
                await session.playback.put(tail)
            queued = session.playback.level / 2 / session.out_rate
            if await session.playback.wait_empty(queued + DRAIN_SLACK_SECONDS):
                await asyncio.sleep(session.lead_seconds)  # what the peer holds still has to be heard
            elif not session.ended.is_set():
                log.warning("remote playback did not drain within %.1f s", queued + DRAIN_SLACK_SECONDS)
        await self.local.drain()

    def abort(self) -> None:
        session, self._remote_unplayed = self._remote_unplayed, None
        if session is not None:
            session.playback.clear()
        for rs in self._resamplers.values():
            rs.reset()
        self.local.abort()
