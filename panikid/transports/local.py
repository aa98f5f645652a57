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

A device that fails once audio has flowed (unplugged, its sound server gone)
is not the end: the transport publishes ``device_lost`` (the assistant shows
``error`` with the reason), looks for the device again by its configured name
every ``RETRY_SECONDS`` (``find_again``) and reopens it, then publishes
``device_restored``. A capture device that cannot be opened at start is still
an error the daemon exits with.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator

from ..audio.convert import StreamResampler, downmix, float_to_pcm16, pcm16_to_float
from ..audio.devices import AudioDeviceError, DeviceInfo, choose_format
from ..config import AudioConfig
from ..events import EventBus
from ..events.schema import DeviceLost, DeviceRestored
from ..pipeline.frames import SAMPLE_RATE
from .base import AudioFilter, InputTransport
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
from .local_output import LocalAudioOutputTransport

__all__ = ["LocalAudioInputTransport", "LocalAudioOutputTransport"]

log = logging.getLogger(__name__)


class LocalAudioInputTransport(InputTransport):
    """The microphone: 16 kHz mono frames of ``frame_ms``, whatever the device does."""

    def __init__(self, config: AudioConfig | None = None, channels: int = 0,
                 audio_filter: AudioFilter | None = None) -> None:
        config = config or AudioConfig()
        super().__init__(frame_ms=config.frame_ms, name="LocalAudioInput", audio_filter=audio_filter)
        self.config = config
        self.required_channels = channels or self.config.input_channels
        self.backend: Backend | None = None
        self.device: DeviceInfo | None = None
        self.rate = SAMPLE_RATE
        self.channels = 1
        self.overflows = 0
        self.blocks = 0
        self.reopened = 0

    async def setup(self, events: EventBus) -> None:
        await super().setup(events)
        self.backend = await asyncio.to_thread(open_backend, self.config.backend)
        device = await asyncio.to_thread(pick, self.backend, self.config.input_device, "input")
        await self._use(device)

    async def _use(self, dev: DeviceInfo) -> None:
        backend = self.backend
        assert backend is not None
        self.rate, self.channels = await asyncio.to_thread(
            choose_format, dev, "input",
            lambda rate, ch: backend.supports(dev.index, "input", rate, ch),
            SAMPLE_RATE, self.config.input_sample_rate, self.required_channels,
        )
        self.device = dev
        log.info("capture from %r at %d Hz, %d channel(s)", dev.name, self.rate, self.channels)

    async def read_audio(self) -> AsyncIterator[bytes]:
        """Audio from the device; a device lost after audio flowed is looked for and reopened."""
        lost_at: float | None = None
        flowed = False
        while True:
            try:
                async for chunk in self._capture():
                    if lost_at is not None:
                        assert self.device is not None
                        self.reopened += 1
                        log.warning("capture device %r is back", self.device.name)
                        self.events.publish(DeviceRestored(kind="input", device=self.device.name,
                                                           lost_seconds=round(time.monotonic() - lost_at, 1)))
                        lost_at = None
                    flowed = True
                    yield chunk
                # PortAudio restarted under the stream: the device's index may have changed.
            except AudioDeviceError as exc:
                if not flowed:
                    raise  # never worked: the daemon says so and exits
                if lost_at is None:
                    lost_at = time.monotonic()
                    name = self.device.name if self.device else self.config.input_device
                    self.events.publish(DeviceLost(kind="input", device=name, retry_seconds=RETRY_SECONDS,
                                                   message=lost_message("input", name, exc)))
                await asyncio.sleep(RETRY_SECONDS)
            assert self.backend is not None
            try:
                await self._use(await asyncio.to_thread(find_again, self.backend, self.config.input_device,
                                                        "input"))
            except AudioDeviceError as exc:
                log.debug("capture device still missing: %s", exc)

    async def _capture(self) -> AsyncIterator[bytes]:
        """One capture stream, from opening to its failure (an ``AudioDeviceError``)."""
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
            quiet_since = time.monotonic()
            while True:
                try:
                    chunk = await asyncio.wait_for(queue.get(), 0.5)
                except TimeoutError:
                    if stream.generation != GENERATION[0]:
                        return  # PortAudio restarted for the other device: reopen at once
                    if time.monotonic() - quiet_since > STALL_SECONDS + stream.latency:
                        raise AudioDeviceError(f"it delivered no audio for {STALL_SECONDS:.0f} s: "
                                               "unplugged, or its sound server stopped") from None
                    continue
                quiet_since = time.monotonic()
                if chunk:
                    yield chunk
        finally:
            await close_stream(stream)
