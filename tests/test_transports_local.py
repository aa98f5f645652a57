"""Local microphone and speaker through the real PortAudio path.

The PortAudio tests run the transports in a subprocess with the private
PulseAudio server's environment (ALSA reads its configuration once per
process, and PortAudio may abort a process); the test plays into the virtual
microphone with paplay and records the virtual speaker with parec.
Device choice and format negotiation are also tested as pure functions.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pulse import ExtraSink, PulseServer, pulse_server

from panikid.audio.convert import pcm16_to_float, peak_frequency
from panikid.audio.devices import (
    AudioDeviceError,
    DeviceInfo,
    NoAudioDevicesError,
    choose_format,
    format_devices,
    probe,
    resolve_device,
)

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 60

# --------------------------------------------------------------------------- pure: choosing devices

DEVICES = [
    DeviceInfo(0, "HDA Intel PCH: ALC257 Analog (hw:0,0)", "ALSA", 2, 2, 48000.0),
    DeviceInfo(1, "USB Audio Device: - (hw:1,0)", "ALSA", 1, 2, 44100.0),
    DeviceInfo(2, "HDMI 0 (hw:0,3)", "ALSA", 0, 8, 48000.0),
    DeviceInfo(3, "pulse", "ALSA", 32, 32, 44100.0),
    DeviceInfo(4, "default", "ALSA", 32, 32, 44100.0, default_input=True, default_output=True),
    DeviceInfo(5, "pulse monitor", "ALSA", 2, 0, 44100.0),
]


def test_resolve_by_name_index_and_default() -> None:
    assert resolve_device("usb", "input", DEVICES).index == 1
    assert resolve_device("USB AUDIO", "output", DEVICES).index == 1
    assert resolve_device("hdmi", "output", DEVICES).index == 2
    assert resolve_device("2", "output", DEVICES).index == 2
    assert resolve_device(0, "input", DEVICES).index == 0
    assert resolve_device("", "input", DEVICES).index == 4
    # "pulse" also matches "pulse monitor", but the exact name wins.
    assert resolve_device("Pulse", "input", DEVICES).index == 3


def test_resolve_errors_name_the_device_and_list_candidates() -> None:
    with pytest.raises(
        AudioDeviceError, match=r"no input device matches 'respeaker'; available input devices: 0: 'HDA"
    ):
        resolve_device("respeaker", "input", DEVICES)
    with pytest.raises(AudioDeviceError, match=r"'hw:0' is ambiguous, it matches: 0: 'HDA.*, 2: 'HDMI 0"):
        resolve_device("hw:0", "output", DEVICES)
    with pytest.raises(AudioDeviceError, match=r"device 2 \('HDMI 0 \(hw:0,3\)'\) has no input channels"):
        resolve_device("2", "input", DEVICES)
    with pytest.raises(AudioDeviceError, match="no audio device with index 9"):
        resolve_device("9", "output", DEVICES)
    with pytest.raises(NoAudioDevicesError, match=r"no capture device.*panikid run --input file\.wav"):
        resolve_device("", "input", [DEVICES[2]])


def test_choose_format_prefers_16k_mono_else_converts() -> None:
    anything = DEVICES[4]
    assert choose_format(anything, "input", lambda r, c: True, 16000) == (16000, 1)
    # A device that only does 48 kHz stereo (like many USB and HDMI devices).
    only = DeviceInfo(7, "hifi", "ALSA", 2, 2, 48000.0)
    asked: list[tuple[int, int]] = []

    def supports(rate: int, ch: int) -> bool:
        asked.append((rate, ch))
        return (rate, ch) == (48000, 2)

    assert choose_format(only, "input", supports, 16000) == (48000, 2)
    assert asked[:3] == [(16000, 1), (16000, 2), (48000, 1)]
    assert choose_format(only, "output", supports, 22050) == (48000, 2)
    with pytest.raises(AudioDeviceError, match=r"'hifi'.*at 16000 Hz"):
        choose_format(only, "input", supports, 16000, required_rate=16000)


def test_format_devices_table() -> None:
    text = format_devices(devices=DEVICES)
    lines = text.splitlines()
    assert lines[0].split() == ["index", "name", "in", "out", "rate", "default"]
    assert lines[5].split() == ["4", "default", "32", "32", "44100", "input,", "output"]
    usb = lines[2]
    assert usb.startswith("1      USB Audio Device: - (hw:1,0)")
    assert usb.split()[-3:] == ["1", "2", "44100"]


def test_no_sound_card_is_a_clear_error(tmp_path: Path) -> None:
    """An ALSA configuration without any pcm makes PortAudio abort at start: the probe survives it."""
    empty = tmp_path / "empty.conf"
    empty.write_text("")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "ALSA_CONFIG_PATH": str(empty)}
    for backend in ("sounddevice", "pyaudio"):
        with pytest.raises(NoAudioDevicesError) as info:
            probe(backend, environ=env)
        message = str(info.value)
        assert "sound card / no audio devices" in message
        assert "panikid run --input file.wav" in message


@pytest.mark.skipif(Path("/proc/asound").exists(), reason="this machine has a sound card")
def test_machine_without_sound_card(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    with pytest.raises(NoAudioDevicesError, match=r"no audio devices found.*/proc/asound does not exist"):
        probe("sounddevice", environ=env)


# --------------------------------------------------------------------------- real PortAudio path

CAPTURE = r"""
import asyncio, json, sys
from panikid.config import AudioConfig
from panikid.audio.devices import AudioDeviceError
from panikid.events import EventBus
from panikid.pipeline.frames import InputAudioFrame
from panikid.pipeline.runner import Pipeline, PipelineRunner
from panikid.pipeline.testing import Recorder
from panikid.transports.local import LocalAudioInputTransport


async def main(opts):
    tin = LocalAudioInputTransport(AudioConfig(**opts["audio"]), channels=opts.get("channels", 0))
    col = Recorder("collect")
    runner = PipelineRunner(Pipeline([tin, col]), EventBus())
    try:
        await runner.start()
    except AudioDeviceError as exc:
        print(json.dumps({"error": str(exc), "type": type(exc).__name__}), flush=True)
        return
    await col.wait_for(InputAudioFrame, 20)
    print(json.dumps({"capturing": True}), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    await runner.stop(10)
    audio = col.of_type(InputAudioFrame)
    with open(opts["out"], "wb") as f:
        f.write(b"".join(fr.pcm for fr in audio))
    print(json.dumps({"rate": tin.rate, "channels": tin.channels, "device": tin.device.name,
                      "t": [fr.t for fr in audio], "sizes": sorted({len(fr.pcm) for fr in audio}),
                      "blocks": tin.blocks}), flush=True)


asyncio.run(main(json.loads(sys.argv[1])))
"""

PLAY = r"""
import asyncio, json, sys
import numpy as np
from panikid.audio.convert import float_to_pcm16, sine
from panikid.config import AudioConfig
from panikid.events import EventBus
from panikid.pipeline.frames import InterruptionFrame, OutputAudioFrame, TTSStoppedFrame
from panikid.pipeline.runner import Pipeline, PipelineRunner
from panikid.pipeline.processor import FrameProcessor
from panikid.transports.local import LocalAudioOutputTransport


async def main(opts):
    bus = EventBus()
    tout = LocalAudioOutputTransport(AudioConfig(**opts["audio"]), channels=opts.get("channels", 0))
    runner = PipelineRunner(Pipeline([tout, FrameProcessor("sink")]), bus)
    started = asyncio.Event()
    bus.listen(lambda e: started.set() if e.type == "audio_started" else None)
    await runner.start()
    rate = opts["rate"]
    pcm = float_to_pcm16(sine(opts["freq"], opts["seconds"], rate))
    step = rate // 10 * 2
    for i in range(0, len(pcm), step):
        runner.pipeline.queue_frame(OutputAudioFrame(1, pcm[i:i + step], rate))
    runner.pipeline.queue_frame(TTSStoppedFrame(1))
    if opts.get("interrupt_after"):
        await started.wait()
        await asyncio.sleep(opts["interrupt_after"])  # the user barges in this far into the reply
        runner.pipeline.queue_frame(InterruptionFrame())
    drained = await runner.stop(30)
    print(json.dumps({"drained": drained, "rate": tout.rate, "channels": tout.channels,
                      "device": tout.device.name,
                      "events": [[e.type, e.data] for e in bus.history]}), flush=True)


asyncio.run(main(json.loads(sys.argv[1])))
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PulseServer]:
    extra = 'pcm.hifi { type pulse; device "hifi" }\n'
    sinks = [ExtraSink("hifi", 48000, 2)]
    with pulse_server(tmp_path_factory.mktemp("pulse"), extra_sinks=sinks, extra_alsa=extra) as s:
        yield s


def _env(server: PulseServer) -> dict[str, str]:
    env = dict(server.env)
    env["PYTHONPATH"] = str(ROOT) + (":" + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def _script(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def _tone_seconds(pcm: bytes, rate: int, channels: int = 1) -> float:
    """How long a tone (well above silence) is present, in seconds (10 ms windows)."""
    x = pcm16_to_float(pcm, channels)
    x = x if channels == 1 else x.mean(axis=1)
    win = rate // 100
    n = x.size // win
    level = np.sqrt(np.mean(x[: n * win].reshape(n, win) ** 2, axis=1))
    return float(np.sum(level > 0.05)) * 0.01


def _capture(server: PulseServer, tmp_path: Path, audio: dict[str, Any], played: Path | None,
             channels: int = 0) -> tuple[dict[str, Any], bytes]:
    out = tmp_path / "captured.raw"
    opts = {"audio": audio, "out": str(out), "channels": channels}
    proc = subprocess.Popen(
        [sys.executable, _script(tmp_path, "capture.py", CAPTURE), json.dumps(opts)],
        env=_env(server), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        first = json.loads(proc.stdout.readline() or "{}")  # type: ignore[union-attr]
        if "capturing" in first and played is not None:
            server.play(played)
        stdout, stderr = proc.communicate("\n", timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if "error" in first:
        return first, b""
    assert proc.returncode == 0, stderr[-3000:]
    return json.loads(stdout.strip().splitlines()[-1]), out.read_bytes()


@pytest.mark.audio
@pytest.mark.parametrize("backend", ["sounddevice", "pyaudio"])
def test_capture_from_the_virtual_microphone(server: PulseServer, tmp_path: Path, backend: str,
                                             tone_wav: Callable[..., bytes]) -> None:
    # Silence around the tone: the capture is still running when paplay returns.
    tone = tone_wav(tmp_path / "tone.wav", 1.0, freq=440.0, lead=0.2, tail=0.5)
    audio = {"backend": backend, "input_device": "vmic"}
    info, pcm = _capture(server, tmp_path, audio, tmp_path / "tone.wav")
    assert (info["device"], info["rate"], info["channels"]) == ("vmic", 16000, 1)
    assert info["sizes"] == [960]  # 30 ms frames
    assert info["t"] == pytest.approx([i * 0.03 for i in range(len(info["t"]))])
    # The callback hands over whole 30 ms blocks, not 10 ms pieces.
    assert info["blocks"] <= len(info["t"]) + 3
    # 16 kHz mono all the way: what was played arrives bit for bit.
    assert tone[8000:9600] in pcm
    assert peak_frequency(pcm, 16000) == pytest.approx(440.0, abs=2)
    assert _tone_seconds(pcm, 16000) == pytest.approx(1.0, abs=0.05)


@pytest.mark.audio
def test_capture_converts_48k_stereo(server: PulseServer, tmp_path: Path, tone_wav: Callable[..., bytes]) -> None:
    """The device opened at 48 kHz stereo (as a USB microphone may require) still yields 16 kHz mono."""
    tone_wav(tmp_path / "tone.wav", 1.0, freq=1000.0, lead=0.2, tail=0.5)
    info, pcm = _capture(
        server, tmp_path, {"input_sample_rate": 48000}, tmp_path / "tone.wav", channels=2
    )
    assert (info["device"], info["rate"], info["channels"]) == ("default", 48000, 2)
    assert info["sizes"] == [960]
    assert peak_frequency(pcm, 16000) == pytest.approx(1000.0, abs=2)
    assert _tone_seconds(pcm, 16000) == pytest.approx(1.0, abs=0.05)


@pytest.mark.audio
def test_unknown_capture_device_lists_the_devices(server: PulseServer, tmp_path: Path) -> None:
    info, _ = _capture(server, tmp_path, {"input_device": "respeaker"}, None)
    assert info["type"] == "AudioDeviceError"
    assert "'respeaker'" in info["error"]
    assert "'vmic'" in info["error"] and "'default'" in info["error"]


def _play(server: PulseServer, tmp_path: Path, opts: dict[str, Any], record: str = "vspk.monitor",
          rec_rate: int = 16000, rec_channels: int = 1) -> tuple[dict[str, Any], bytes]:
    server.start_recording(record, rec_rate, rec_channels)
    try:
        res = subprocess.run(
            [sys.executable, _script(tmp_path, "play.py", PLAY), json.dumps(opts)],
            env=_env(server), capture_output=True, text=True, timeout=TIMEOUT, check=False,
        )
    finally:
        recorded = server.stop_recording()
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout.strip().splitlines()[-1]), recorded


@pytest.mark.audio
@pytest.mark.parametrize("backend", ["sounddevice", "pyaudio"])
def test_play_on_the_virtual_speaker(server: PulseServer, tmp_path: Path, backend: str) -> None:
    audio = {"backend": backend, "output_device": "vspk"}
    opts = {"audio": audio, "rate": 22050, "freq": 523.0, "seconds": 1.5}
    info, recorded = _play(server, tmp_path, opts)
    assert info["device"] == "vspk" and info["drained"]
    assert info["events"] == [
        ["audio_started", {"turn": 1}],
        ["audio_stopped", {"turn": 1, "interrupted": False}],
    ]
    assert peak_frequency(recorded, 16000) == pytest.approx(523.0, abs=2)
    # All of it was played before the stream closed: the end of input waited for the drain.
    assert _tone_seconds(recorded, 16000) == pytest.approx(1.5, abs=0.06)


@pytest.mark.audio
def test_play_converts_to_a_48k_stereo_device(server: PulseServer, tmp_path: Path) -> None:
    opts = {"audio": {"output_device": "hifi", "output_sample_rate": 48000, "volume": 0.5},
            "channels": 2, "rate": 22050, "freq": 700.0, "seconds": 1.0}
    info, recorded = _play(server, tmp_path, opts, record="hifi.monitor", rec_rate=48000, rec_channels=2)
    assert (info["device"], info["rate"], info["channels"]) == ("hifi", 48000, 2)
    stereo = pcm16_to_float(recorded, 2)
    for ch in (0, 1):
        assert peak_frequency(stereo[:, ch], 48000) == pytest.approx(700.0, abs=2)
    assert _tone_seconds(recorded, 48000, 2) == pytest.approx(1.0, abs=0.06)
    # volume 0.5 of a 0.5 amplitude tone: about 0.25 peak.
    assert np.max(np.abs(stereo)) == pytest.approx(0.25, abs=0.02)


@pytest.mark.audio
def test_interruption_stops_playback(server: PulseServer, tmp_path: Path) -> None:
    opts = {"audio": {"output_device": "vspk"}, "rate": 22050, "freq": 440.0, "seconds": 6.0,
            "interrupt_after": 1.0}
    info, recorded = _play(server, tmp_path, opts)
    assert info["events"] == [
        ["audio_started", {"turn": 1}],
        ["interrupted", {"turn": 1}],
        ["audio_stopped", {"turn": 1, "interrupted": True, "heard_text": ""}],
    ]
    played = _tone_seconds(recorded, 16000)
    assert 0.5 < played < 4.0  # cut short, far from the whole 6 s reply


@pytest.mark.audio
@pytest.mark.parametrize("backend", ["sounddevice", "pyaudio"])
def test_devices_listing_shows_the_virtual_devices(server: PulseServer, backend: str) -> None:
    devices = probe(backend, environ=server.env)
    names = {d.name for d in devices}
    assert {"vmic", "vspk", "default"} <= names
    default = next(d for d in devices if d.name == "default")
    assert default.default_input and default.default_output
    table = format_devices(devices=devices)
    assert "vmic" in table and "input, output" in table
