"""Thin adapters over sounddevice and PyAudio (both PortAudio) with one interface.

The libraries are imported lazily, inside ``get_backend``: PortAudio may abort
the process when it starts (see panikid.devices), so nothing imports them at
module import time, and the daemon probes in a subprocess before it does.

Streams are callback streams: capture callbacks receive raw s16le bytes of
one block; playback callbacks are asked for exactly ``nbytes`` bytes. Each
stream counts its callbacks (``calls``): a stream whose count stops moving has
lost its device.

PortAudio reads the device list once, when it starts. ``refresh`` restarts it
to see devices that appeared since (a USB microphone plugged back into another
port); that closes every stream open in this process, so ``GENERATION`` counts
the restarts and a transport whose stream is older reopens it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, Protocol

from ..audio.devices import BACKENDS, AudioDeviceError, DeviceInfo

InputCallback = Callable[[bytes], None]
OutputCallback = Callable[[int], bytes]


GENERATION = [0]
"""How often PortAudio was restarted in this process (``Backend.refresh``)."""


class Stream(Protocol):
    latency: float
    late: list[int]
    """[n]: how often the device wanted audio before it was handed over (a glitch heard)."""
    calls: list[int]
    """[n]: how often the device called back; it stops moving when the device is gone."""
    generation: int
    """``GENERATION`` when it was opened: an older stream was closed by a refresh."""

    def start(self) -> None: ...
    def close(self) -> None: ...


class Backend(Protocol):
    name: str

    def devices(self) -> list[DeviceInfo]: ...
    def refresh(self) -> None: ...
    def supports(self, index: int, kind: str, rate: int, channels: int) -> bool: ...
    def open_input(
        self, index: int, rate: int, channels: int, blocksize: int, callback: InputCallback
    ) -> Stream: ...
    def open_output(
        self, index: int, rate: int, channels: int, blocksize: int, latency: float, callback: OutputCallback
    ) -> Stream: ...


class _SdStream:
    def __init__(self, stream: Any, late: list[int], calls: list[int]) -> None:
        self._stream = stream
        lat = stream.latency
        self.latency = float(lat if isinstance(lat, (int, float)) else max(lat))
        self.late = late
        self.calls = calls
        self.generation = GENERATION[0]

    def start(self) -> None:
        self._stream.start()

    def close(self) -> None:
        if self.generation != GENERATION[0]:
            return  # PortAudio's restart closed it already: its handle is gone
        try:
            self._stream.abort(ignore_errors=True)
        finally:
            self._stream.close(ignore_errors=True)


class SoundDeviceBackend:
    name = "sounddevice"

    def __init__(self) -> None:
        self.sd: Any = importlib.import_module("sounddevice")

    def refresh(self) -> None:
        self.sd._terminate()
        self.sd._initialize()
        GENERATION[0] += 1

    def devices(self) -> list[DeviceInfo]:
        sd = self.sd
        default_in, default_out = (int(x) for x in sd.default.device)
        hostapis = sd.query_hostapis()
        if default_in < 0 or default_out < 0:  # fall back to the host API's own defaults
            for api in hostapis:
                default_in = default_in if default_in >= 0 else api.get("default_input_device", -1)
                default_out = default_out if default_out >= 0 else api.get("default_output_device", -1)
        return [
            DeviceInfo(
                index=i,
                name=d["name"],
                hostapi=hostapis[d["hostapi"]]["name"],
                max_input_channels=int(d["max_input_channels"]),
                max_output_channels=int(d["max_output_channels"]),
                default_samplerate=float(d["default_samplerate"]),
                default_input=i == default_in,
                default_output=i == default_out,
            )
            for i, d in enumerate(sd.query_devices())
        ]

    def supports(self, index: int, kind: str, rate: int, channels: int) -> bool:
        check = self.sd.check_input_settings if kind == "input" else self.sd.check_output_settings
        try:
            check(device=index, samplerate=rate, channels=channels, dtype="int16")
        except Exception:
            return False
        return True

    def open_input(
        self, index: int, rate: int, channels: int, blocksize: int, callback: InputCallback
    ) -> Stream:
        calls = [0]

        def cb(indata: Any, frames: int, time: Any, status: Any) -> None:
            calls[0] += 1
            callback(bytes(indata))

        return _SdStream(
            self.sd.RawInputStream(
                samplerate=rate, blocksize=blocksize, device=index, channels=channels,
                dtype="int16", latency="high", callback=cb,
            ),
            [0], calls,
        )

    def open_output(
        self, index: int, rate: int, channels: int, blocksize: int, latency: float, callback: OutputCallback
    ) -> Stream:
        late, calls = [0], [0]

        def cb(outdata: Any, frames: int, time: Any, status: Any) -> None:
            calls[0] += 1
            if status.output_underflow:
                late[0] += 1
            outdata[:] = callback(len(outdata))

        return _SdStream(
            self.sd.RawOutputStream(
                samplerate=rate, blocksize=blocksize, device=index, channels=channels,
                dtype="int16", latency=latency, callback=cb,
            ),
            late, calls,
        )


class _PaStream:
    def __init__(self, pa: Any, stream: Any, latency: float, calls: list[int], late: list[int] | None = None) -> None:
        self._pa = pa
        self._stream = stream
        self.latency = latency
        self.late = late if late is not None else [0]
        self.calls = calls
        self.generation = GENERATION[0]

    def start(self) -> None:
        self._stream.start_stream()

    def close(self) -> None:
        if self.generation != GENERATION[0]:
            return  # PortAudio's restart closed it already: its handle is gone
        self._stream.stop_stream()
        self._stream.close()


class PyAudioBackend:
    name = "pyaudio"

    def __init__(self) -> None:
        self.pyaudio: Any = importlib.import_module("pyaudio")
        self.pa: Any = self.pyaudio.PyAudio()

    def refresh(self) -> None:
        self.pa.terminate()
        self.pa = self.pyaudio.PyAudio()
        GENERATION[0] += 1

    def devices(self) -> list[DeviceInfo]:
        pa = self.pa
        try:
            default_in = int(pa.get_default_input_device_info()["index"])
        except OSError:
            default_in = -1
        try:
            default_out = int(pa.get_default_output_device_info()["index"])
        except OSError:
            default_out = -1
        out = []
        for i in range(pa.get_device_count()):
            d = pa.get_device_info_by_index(i)
            out.append(
                DeviceInfo(
                    index=i,
                    name=str(d["name"]),
                    hostapi=str(pa.get_host_api_info_by_index(d["hostApi"])["name"]),
                    max_input_channels=int(d["maxInputChannels"]),
                    max_output_channels=int(d["maxOutputChannels"]),
                    default_samplerate=float(d["defaultSampleRate"]),
                    default_input=i == default_in,
                    default_output=i == default_out,
                )
            )
        return out

    def supports(self, index: int, kind: str, rate: int, channels: int) -> bool:
        fmt = self.pyaudio.paInt16
        kw = (
            {"input_device": index, "input_channels": channels, "input_format": fmt}
            if kind == "input"
            else {"output_device": index, "output_channels": channels, "output_format": fmt}
        )
        try:
            return bool(self.pa.is_format_supported(rate, **kw))
        except ValueError:
            return False

    def open_input(
        self, index: int, rate: int, channels: int, blocksize: int, callback: InputCallback
    ) -> Stream:
        cont = self.pyaudio.paContinue
        calls = [0]

        def cb(in_data: bytes, frame_count: int, time_info: Any, status: int) -> tuple[None, int]:
            calls[0] += 1
            callback(in_data)
            return None, cont

        stream = self.pa.open(
            format=self.pyaudio.paInt16, channels=channels, rate=rate, input=True,
            input_device_index=index, frames_per_buffer=blocksize, stream_callback=cb, start=False,
        )
        return _PaStream(self.pa, stream, float(stream.get_input_latency()), calls)

    def open_output(
        self, index: int, rate: int, channels: int, blocksize: int, latency: float, callback: OutputCallback
    ) -> Stream:
        cont, underflow = self.pyaudio.paContinue, self.pyaudio.paOutputUnderflow
        frame_bytes = 2 * channels
        late, calls = [0], [0]

        def cb(in_data: Any, frame_count: int, time_info: Any, status: int) -> tuple[bytes, int]:
            calls[0] += 1
            if status & underflow:
                late[0] += 1
            return callback(frame_count * frame_bytes), cont

        # PyAudio takes no latency: PortAudio's default low output latency applies.
        stream = self.pa.open(
            format=self.pyaudio.paInt16, channels=channels, rate=rate, output=True,
            output_device_index=index, frames_per_buffer=blocksize, stream_callback=cb, start=False,
        )
        return _PaStream(self.pa, stream, float(stream.get_output_latency()), calls, late)


def get_backend(name: str) -> Backend:
    """Import and start the named backend (call only after ``panikid.devices.probe`` succeeded)."""
    if name == "sounddevice":
        return SoundDeviceBackend()
    if name == "pyaudio":
        return PyAudioBackend()
    raise AudioDeviceError(f"unknown audio backend {name!r}, allowed: {', '.join(BACKENDS)}")
