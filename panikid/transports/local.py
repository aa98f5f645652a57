"""The local microphone and speaker, through PortAudio (sounddevice or PyAudio).

Devices are chosen by name or index (``panikid.devices.resolve_device``) and
opened mono at the rate the pipeline wants when they take it; otherwise at a
rate and channel count they do take, and the audio is converted here
(capture: downmix and resample to 16 kHz; playback: resample and upmix).

Capture: the PortAudio callback only copies one block (``frame_ms`` of audio)
and hands it to the event loop with ``call_soon_threadsafe``. Playback: a
callback stream pulls from a bounded buffer; ``write`` waits while the buffer
is full, an interruption empties it at once, and a drain waits (bounded) until
it has been played.

PortAudio is started in-process only after ``panikid.devices.probe`` ran it
safely in a subprocess (it can abort the process on machines without audio).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator

from ..audio.convert import StreamResampler, downmix, float_to_pcm16, pcm16_to_float, upmix
from ..audio.devices import AudioDeviceError, DeviceInfo, choose_format, probe, resolve_device
from ..config import AudioConfig
from ..events import EventBus
from ..pipeline.frames import SAMPLE_RATE
from .base import DRAIN_SLACK_SECONDS, InputTransport, OutputTransport
from .local_backends import Backend, Stream, get_backend

log = logging.getLogger(__name__)

STALL_SECONDS = 3.0
"""Capture that delivers nothing for this long has failed (device unplugged, server gone)."""
OPEN_TIMEOUT = 15.0
BUFFER_SECONDS = 0.5
"""Playback audio queued ahead of the device; ``write`` waits while more is queued."""


def open_backend(name: str) -> Backend:
    probe(name)  # raises a clear NoAudioDevicesError instead of letting PortAudio abort us
    return get_backend(name)


def _pick(backend: Backend, spec: str, kind: str) -> DeviceInfo:
    return resolve_device(spec, kind, backend.devices())


async def _close(stream: Stream | None) -> None:
    if stream is None:
        return
    with contextlib.suppress(Exception):
        await asyncio.wait_for(asyncio.to_thread(stream.close), OPEN_TIMEOUT)


class LocalAudioInputTransport(InputTransport):
    """The microphone: 16 kHz mono frames of ``frame_ms``, whatever the device does."""

    def __init__(self, config: AudioConfig | None = None, channels: int = 0) -> None:
        config = config or AudioConfig()
        super().__init__(frame_ms=config.frame_ms, name="LocalAudioInput")
        self.config = config
        self.required_channels = channels
        self.backend: Backend | None = None
        self.device: DeviceInfo | None = None
        self.rate = SAMPLE_RATE
        self.channels = 1
        self.overflows = 0
        self.blocks = 0

    async def setup(self, events: EventBus) -> None:
        await super().setup(events)
        self.backend = await asyncio.to_thread(open_backend, self.config.backend)
        self.device = await asyncio.to_thread(_pick, self.backend, self.config.input_device, "input")
        dev, backend = self.device, self.backend
        self.rate, self.channels = await asyncio.to_thread(
            choose_format, dev, "input",
            lambda rate, ch: backend.supports(dev.index, "input", rate, ch),
            SAMPLE_RATE, self.config.input_sample_rate, self.required_channels,
        )
        log.info("capture from %r at %d Hz, %d channel(s)", dev.name, self.rate, self.channels)

    async def read_audio(self) -> AsyncIterator[bytes]:
        assert self.backend is not None and self.device is not None
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=256)
        resampler = StreamResampler(self.rate, SAMPLE_RATE)
        channels = self.channels

        def on_block(data: bytes) -> None:  # on the event loop
            self.blocks += 1
            pcm = data
            if channels > 1 or self.rate != SAMPLE_RATE:
                x = downmix(pcm16_to_float(data, channels))
                pcm = float_to_pcm16(resampler.process(x))
            try:
                queue.put_nowait(pcm)
            except asyncio.QueueFull:
                self.overflows += 1

        def callback(data: bytes) -> None:  # PortAudio's thread: copy and hand over, nothing else
            with contextlib.suppress(RuntimeError):  # the loop closed while the stream was stopping
                loop.call_soon_threadsafe(on_block, data)

        blocksize = max(1, round(self.rate * self.frame_ms / 1000))
        dev, backend = self.device, self.backend
        try:
            stream: Stream | None = await asyncio.wait_for(
                asyncio.to_thread(
                    backend.open_input, dev.index, self.rate, self.channels, blocksize, callback
                ),
                OPEN_TIMEOUT,
            )
        except Exception as exc:
            raise AudioDeviceError(f"cannot open capture device {dev.index} ({dev.name!r}): {exc}") from exc
        try:
            assert stream is not None
            await asyncio.to_thread(stream.start)
            while True:
                try:
                    chunk = await asyncio.wait_for(queue.get(), STALL_SECONDS + stream.latency)
                except TimeoutError:
                    raise AudioDeviceError(
                        f"capture device {dev.name!r} delivered no audio for {STALL_SECONDS:.0f} s"
                    ) from None
                if chunk:
                    yield chunk
        finally:
            await _close(stream)


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
        self, config: AudioConfig | None = None, channels: int = 0, voice_sample_rate: int = 22050
    ) -> None:
        super().__init__(name="LocalAudioOutput")
        self.config = config or AudioConfig()
        self.volume = self.config.volume
        self.required_channels = channels
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

    async def setup(self, events: EventBus) -> None:
        await super().setup(events)
        self.backend = await asyncio.to_thread(open_backend, self.config.backend)
        self.device = await asyncio.to_thread(_pick, self.backend, self.config.output_device, "output")
        dev, backend = self.device, self.backend
        self.rate, self.channels = await asyncio.to_thread(
            choose_format, dev, "output",
            lambda rate, ch: backend.supports(dev.index, "output", rate, ch),
            self.voice_sample_rate, self.config.output_sample_rate, self.required_channels,
        )
        self.buffer = _PlaybackBuffer(int(self.rate * BUFFER_SECONDS) * 2 * self.channels)
        blocksize = max(1, round(self.rate * 0.02))
        try:
            self.stream = await asyncio.wait_for(
                asyncio.to_thread(
                    backend.open_output, dev.index, self.rate, self.channels, blocksize,
                    self.config.output_latency_ms / 1000,
                    self.buffer.take,
                ),
                OPEN_TIMEOUT,
            )
            await asyncio.to_thread(self.stream.start)
        except Exception as exc:
            await _close(self.stream)
            self.stream = None
            raise AudioDeviceError(f"cannot open playback device {dev.index} ({dev.name!r}): {exc}") from exc
        log.info("play on %r at %d Hz, %d channel(s), latency %.0f ms", dev.name, self.rate, self.channels,
                 self.stream.latency * 1000)

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
                name = self.device.name if self.device else "?"
                raise AudioDeviceError(f"playback device {name!r} stopped taking audio")

    async def write(self, pcm: bytes, sample_rate: int) -> None:
        if self.stream is None:
            raise AudioDeviceError("the playback device is not open")
        self._unplayed = True
        await self._enqueue(self._convert(pcm, sample_rate))

    async def drain(self) -> None:
        if self.stream is None or not self._unplayed:
            return
        self._unplayed = False
        late = self.stream.late[0]
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
            await asyncio.sleep(self.stream.latency)
        else:
            log.warning("playback did not drain within %.1f s", queued + DRAIN_SLACK_SECONDS)

    def abort(self) -> None:
        self._unplayed = False
        self.buffer.clear()
        for rs in self._resamplers.values():
            rs.reset()

    async def cleanup(self) -> None:
        stream, self.stream = self.stream, None
        await _close(stream)
        await super().cleanup()
