"""The local speaker: a callback stream pulls from a bounded buffer; ``write`` waits while the buffer is
full, an interruption empties it at once, and a drain waits (bounded) until it has been played. A device
that stops calling back (unplugged, its sound server gone) is noticed even while nothing plays, and
reopened when it is back (see panikid.transports.local)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time

from ..audio.convert import StreamResampler, float_to_pcm16, pcm16_to_float, upmix
from ..audio.devices import AudioDeviceError, DeviceInfo, choose_format
from ..audio.duck import Duck
from ..audio.echo import EchoReference
from ..config import AudioConfig
from ..events import EventBus
from ..events.schema import DeviceLost, DeviceRestored
from .base import DRAIN_SLACK_SECONDS, OutputTransport
from .local_backends import GENERATION, Backend, Stream
from .local_common import (
    OPEN_TIMEOUT,
    RETRY_SECONDS,
    STALL_SECONDS,
    close_stream,
    find_again,
    lost_message,
    open_backend,
    pick,
)

log = logging.getLogger(__name__)

BUFFER_SECONDS = 0.5
"""Playback audio queued ahead of the device; ``write`` waits while more is queued."""


class _PlaybackBuffer:
    """Bytes waiting for the device, shared with PortAudio's callback thread."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._data = bytearray()
        self._lock = threading.Lock()
        self._waiter: tuple[asyncio.AbstractEventLoop, asyncio.Event, int] | None = None

    @property
    def level(self) -> int:
        with self._lock:
            return len(self._data)

    def put(self, data: bytes) -> int:
        """Add as much of ``data`` as fits; returns how many bytes were taken."""
        with self._lock:
            n = max(0, min(len(data), self.max_bytes - len(self._data)))
            self._data += data[:n]
            return n

    def take(self, nbytes: int) -> bytes:  # PortAudio's thread
        with self._lock:
            out = bytes(self._data[:nbytes])
            del self._data[:nbytes]
            waiter = self._waiter
            if waiter is not None and len(self._data) <= waiter[2]:
                self._waiter = None
                waiter[0].call_soon_threadsafe(waiter[1].set)
        return out + bytes(nbytes - len(out))

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            if self._waiter is not None:
                self._waiter[0].call_soon_threadsafe(self._waiter[1].set)
                self._waiter = None

    async def wait_below(self, level: int, deadline: float) -> bool:
        """Wait until at most ``level`` bytes are queued; False after ``deadline`` seconds."""
        event = asyncio.Event()
        with self._lock:
            if len(self._data) <= level:
                return True
            self._waiter = (asyncio.get_running_loop(), event, level)
        try:
            await asyncio.wait_for(event.wait(), deadline)
            return True
        except TimeoutError:
            return False
        finally:
            with self._lock:
                if self._waiter is not None and self._waiter[1] is event:
                    self._waiter = None


class LocalAudioOutputTransport(OutputTransport):
    """The speaker: plays OutputAudioFrames on a local device."""

    def __init__(
        self, config: AudioConfig | None = None, channels: int = 0, voice_sample_rate: int = 22050,
        echo_reference: EchoReference | None = None, duck: Duck | None = None,
    ) -> None:
        """``echo_reference``: handed every block the device plays (the echo canceller's far end);
        ``duck``: a gain applied to every block first (the reply turned down while the user talks over it)."""
        super().__init__(name="LocalAudioOutput")
        self.config = config or AudioConfig()
        self.volume = self.config.volume
        self.required_channels = channels or self.config.output_channels
        self.voice_sample_rate = voice_sample_rate
        self.backend: Backend | None = None
        self.device: DeviceInfo | None = None
        self.rate = voice_sample_rate
        self.channels = 1
        self.stream: Stream | None = None
        self.buffer = _PlaybackBuffer(1)
        self._resamplers: dict[int, StreamResampler] = {}
        self._unplayed = False  # audio was written since the last drain
        self._late_reported = 0  # underflows already logged
        self._lost_at: float | None = None  # when the device was lost (None: it works)
        self._watch: asyncio.Task[None] | None = None
        self._closing: asyncio.Future[None] | None = None
        self._dropped_turn: int | None = None
        self.echo_reference = echo_reference
        self.duck = duck

    def echo_reduction_db(self) -> float | None:
        return self.echo_reference.take_reduction_db() if self.echo_reference is not None else None

    async def setup(self, events: EventBus) -> None:
        await super().setup(events)
        self.backend = await asyncio.to_thread(open_backend, self.config.backend)
        device = await asyncio.to_thread(pick, self.backend, self.config.output_device, "output")
        await self._open(device)
        self._watch = asyncio.create_task(self._watch_device(), name="LocalAudioOutput-watch")

    async def _open(self, dev: DeviceInfo) -> None:
        backend = self.backend
        assert backend is not None
        self.rate, self.channels = await asyncio.to_thread(
            choose_format, dev, "output",
            lambda rate, ch: backend.supports(dev.index, "output", rate, ch),
            self.voice_sample_rate, self.config.output_sample_rate, self.required_channels,
        )
        self.buffer = _PlaybackBuffer(int(self.rate * BUFFER_SECONDS) * 2 * self.channels)
        self._resamplers.clear()
        buffer, reference, duck, channels = self.buffer, self.echo_reference, self.duck, self.channels
        pull = buffer.take
        if reference is not None:
            reference.set_format(self.rate, self.channels)

            def pull(nbytes: int) -> bytes:  # PortAudio's thread: what the device plays is the far end
                block = buffer.take(nbytes)
                if duck is not None:
                    block = duck.apply(block, channels)
                reference.played(block)
                return block

        blocksize = max(1, round(self.rate * 0.02))
        stream: Stream | None = None
        try:
            stream = await asyncio.wait_for(
                asyncio.to_thread(
                    backend.open_output, dev.index, self.rate, self.channels, blocksize,
                    self.config.output_latency_ms / 1000,
                    pull,
                ),
                OPEN_TIMEOUT,
            )
            await asyncio.to_thread(stream.start)
        except Exception as exc:
            await close_stream(stream)
            raise AudioDeviceError(f"cannot open playback device {dev.index} ({dev.name!r}): {exc}") from exc
        self.device, self.stream, self._late_reported = dev, stream, 0
        log.info("play on %r at %d Hz, %d channel(s), latency %.0f ms", dev.name, self.rate, self.channels,
                 stream.latency * 1000)

    async def _watch_device(self) -> None:
        """Notice a playback device that stopped calling back (even while nothing plays), and reopen it."""
        seen, since = -1, time.monotonic()
        while True:
            await asyncio.sleep(0.5)
            stream = self.stream
            if stream is None:
                await self._recover()
                seen, since = -1, time.monotonic()
                continue
            if stream.generation != GENERATION[0]:  # PortAudio restarted for the other device
                self.stream = None
                try:
                    await self._reopen()
                except AudioDeviceError as exc:
                    self._lose(exc)
                continue
            if stream.calls[0] != seen:
                seen, since = stream.calls[0], time.monotonic()
            elif time.monotonic() - since > STALL_SECONDS + stream.latency:
                self._lose(AudioDeviceError(f"it took no audio for {STALL_SECONDS:.0f} s: "
                                            "unplugged, or its sound server stopped"))

    def _lose(self, exc: BaseException) -> None:
        stream, self.stream = self.stream, None
        self.buffer.clear()
        if stream is not None:
            self._closing = asyncio.ensure_future(close_stream(stream))
        if self._lost_at is None:
            self._lost_at = time.monotonic()
            name = self.device.name if self.device else self.config.output_device
            self.events.publish(DeviceLost(kind="output", device=name, retry_seconds=RETRY_SECONDS,
                                           message=lost_message("output", name, exc)))

    async def _reopen(self) -> None:
        assert self.backend is not None
        await self._open(await asyncio.to_thread(find_again, self.backend, self.config.output_device, "output"))

    async def _recover(self) -> None:
        """While the device is lost: look for it every ``RETRY_SECONDS``; reopen it when it is back."""
        await asyncio.sleep(RETRY_SECONDS)
        try:
            await self._reopen()
        except AudioDeviceError as exc:
            log.debug("playback device still missing: %s", exc)
            return
        if self._lost_at is not None and self.device is not None:
            log.warning("playback device %r is back", self.device.name)
            self.events.publish(DeviceRestored(kind="output", device=self.device.name,
                                               lost_seconds=round(time.monotonic() - self._lost_at, 1)))
            self._lost_at = None

    def _convert(self, pcm: bytes, sample_rate: int, last: bool = False) -> bytes:
        x = pcm16_to_float(pcm)  # volume was applied by OutputTransport
        if sample_rate != self.rate:
            rs = self._resamplers.get(sample_rate)
            if rs is None:
                rs = self._resamplers[sample_rate] = StreamResampler(sample_rate, self.rate)
            x = rs.process(x, last=last)
        return float_to_pcm16(upmix(x, self.channels))

    async def _enqueue(self, data: bytes) -> None:
        frame = 2 * self.channels
        while data:
            n = self.buffer.put(data)
            n -= n % frame
            data = data[n:]
            if data and not await self.buffer.wait_below(
                self.buffer.max_bytes // 2, BUFFER_SECONDS + DRAIN_SLACK_SECONDS
            ):
                self._lose(AudioDeviceError("it stopped taking audio"))
                return
            if self.stream is None:
                return  # lost while waiting

    async def write(self, pcm: bytes, sample_rate: int) -> None:
        if self.stream is None:
            # The device is lost (device_lost said so, and the state is error): this audio is not heard.
            if self.playing_turn != self._dropped_turn:
                self._dropped_turn = self.playing_turn
                log.error("playback device lost: turn %s is not played", self.playing_turn)
            return
        self._unplayed = True
        await self._enqueue(self._convert(pcm, sample_rate))

    async def drain(self) -> None:
        stream = self.stream
        if stream is None or not self._unplayed:
            return
        self._unplayed = False
        late = stream.late[0]
        if late > self._late_reported:
            log.warning("playback: the device ran dry %d time(s) during this reply (audio.output_latency_ms "
                        "is %d; raise it if replies crackle)", late - self._late_reported,
                        self.config.output_latency_ms)
            self._late_reported = late
        for rate in list(self._resamplers):
            tail = self._convert(b"", rate, last=True)
            if tail:
                await self._enqueue(tail)
        queued = self.buffer.level / 2 / self.channels / self.rate
        if await self.buffer.wait_below(0, queued + DRAIN_SLACK_SECONDS):
            # What is in the device's own buffer still has to come out of the speaker.
            await asyncio.sleep(stream.latency)
        elif self.stream is not None:
            log.warning("playback did not drain within %.1f s", queued + DRAIN_SLACK_SECONDS)

    def abort(self) -> None:
        self._unplayed = False
        self.buffer.clear()
        for rs in self._resamplers.values():
            rs.reset()

    async def cleanup(self) -> None:
        watch, self._watch = self._watch, None
        if watch is not None:
            watch.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await watch
        stream, self.stream = self.stream, None
        await close_stream(stream)
        if self._closing is not None:
            with contextlib.suppress(Exception):
                await self._closing
        await super().cleanup()
