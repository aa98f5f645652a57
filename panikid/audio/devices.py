"""Audio devices: listing them (``panikid devices``), choosing one by name or
index, and telling the user clearly when this machine has none.

PortAudio is only ever initialised in-process after a probe in a subprocess
succeeded. What PortAudio 19.6 (ALSA host API) does on a machine without a
sound card, as seen on Debian 12 with a kernel that has no sound support:

* with ALSA's stock configuration, ``import sounddevice`` (and
  ``pyaudio.PyAudio()``) succeed, print many "ALSA lib ... cannot find card
  '0'" and JACK lines on stderr, and report zero devices (default index -1);
* with ``ALSA_CONFIG_PATH`` pointing to a missing or empty file (any
  configuration that defines no pcm at all), the same calls abort the whole
  process (SIGABRT, assertion ``devIdx < numDeviceNames`` in
  pa_linux_alsa.c BuildDeviceList) before Python can catch anything;
* an ALSA configuration that defines pcms (e.g. routing to a PulseAudio
  server) lists them, even when the server is not reachable.

So ``probe`` imports the backend in a child process: a crash or an empty
list there becomes a ``NoAudioDevicesError`` that explains the situation
and points to ``panikid run --input file.wav``, and the daemon itself never
aborts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..config import AudioConfig

BACKENDS = ("sounddevice", "pyaudio")
PROBE_TIMEOUT = 30.0
FILE_HINT = (
    "To run without a microphone or speaker, talk to it from a browser: `panikid run --audio remote` "
    "(the status page's Talk button), or use WAV files: `panikid run --input file.wav --output reply.wav`."
)


class AudioDeviceError(Exception):
    """An audio device is unknown, ambiguous, unusable or missing."""


class NoAudioDevicesError(AudioDeviceError):
    """This machine has no usable audio device at all."""


@dataclass(frozen=True)
class DeviceInfo:
    index: int
    name: str
    hostapi: str
    max_input_channels: int
    max_output_channels: int
    default_samplerate: float
    default_input: bool = False
    default_output: bool = False

    def channels(self, kind: str) -> int:
        return self.max_input_channels if kind == "input" else self.max_output_channels


# --------------------------------------------------------------------------- probing

_PROBE = """
import json, sys
from dataclasses import asdict
sys.path.insert(0, {root!r})
from panikid.transports.local_backends import get_backend
print("PANIKID-DEVICES " + json.dumps([asdict(d) for d in get_backend({backend!r}).devices()]), flush=True)
"""

_probed: dict[tuple[str, str], list[DeviceInfo]] = {}


def _no_sound_card_reason(environ: Mapping[str, str]) -> str:
    parts = []
    if not Path("/proc/asound").exists():
        parts.append("the kernel reports no sound card: /proc/asound does not exist")
    if environ.get("ALSA_CONFIG_PATH"):
        parts.append(f"ALSA_CONFIG_PATH={environ['ALSA_CONFIG_PATH']}")
    if environ.get("PULSE_SERVER"):
        parts.append(f"PULSE_SERVER={environ['PULSE_SERVER']}")
    return "; ".join(parts)


def probe(
    backend: str = "sounddevice", environ: Mapping[str, str] | None = None, fresh: bool = False
) -> list[DeviceInfo]:
    """List the devices ``backend`` sees, from a child process (PortAudio may abort it).

    The list is kept per environment; ``fresh`` looks again (a device may have come back).
    Raises ``NoAudioDevicesError`` when there is no device or PortAudio cannot start.
    """
    if backend not in BACKENDS:
        raise AudioDeviceError(f"unknown audio backend {backend!r}, allowed: {', '.join(BACKENDS)}")
    env = dict(os.environ if environ is None else environ)
    key = (backend, json.dumps(sorted((k, v) for k, v in env.items() if "ALSA" in k or "PULSE" in k)))
    if key in _probed and not fresh:
        return _probed[key]
    root = str(Path(__file__).resolve().parent.parent)
    try:
        res = subprocess.run(
            [sys.executable, "-c", _PROBE.format(root=root, backend=backend)],
            env=env, capture_output=True, text=True, timeout=PROBE_TIMEOUT, check=False,
        )
    except subprocess.TimeoutExpired:
        raise AudioDeviceError(
            f"looking for audio devices with {backend} did not finish within {PROBE_TIMEOUT:.0f} s"
        ) from None
    reason = _no_sound_card_reason(env)
    line = next((ln for ln in res.stdout.splitlines() if ln.startswith("PANIKID-DEVICES ")), None)
    if res.returncode != 0 or line is None:
        noise = ("ALSA lib", "Jack", "jack", "Cannot connect")
        detail = [ln for ln in res.stderr.splitlines() if ln.strip() and not ln.startswith(noise)]
        if res.returncode < 0 or res.returncode == 134:  # 134: the shell's way of saying SIGABRT
            signal = -res.returncode if res.returncode < 0 else 6
            what = f"PortAudio aborted while looking for audio devices (signal {signal})"
        else:
            what = f"the audio backend {backend} could not start (exit status {res.returncode})"
        tail = f": {detail[-1].rstrip('.')}" if detail else ""
        raise NoAudioDevicesError(
            f"{what}{tail}. This machine has no usable sound card / no audio devices"
            + (f" [{reason}]" if reason else "")
            + ". An ALSA configuration must define a default device (pcm.!default). " + FILE_HINT
        )
    devices = [DeviceInfo(**d) for d in json.loads(line.split(" ", 1)[1])]
    if not devices:
        raise NoAudioDevicesError(
            "no audio devices found: this machine has no sound card / no audio devices"
            + (f" [{reason}]" if reason else "")
            + ", and no sound server (PulseAudio, PipeWire) was reached. " + FILE_HINT
        )
    _probed[key] = devices
    return devices


def list_devices(backend: str = "sounddevice") -> list[DeviceInfo]:
    """Every capture and playback device ``backend`` sees (probed safely in a subprocess)."""
    return probe(backend)


def format_devices(backend: str = "sounddevice", devices: Sequence[DeviceInfo] | None = None) -> str:
    """A table for ``panikid devices``: index, name, channels in/out, default rate, defaults."""
    devices = list_devices(backend) if devices is None else list(devices)
    rows = [("index", "name", "in", "out", "rate", "default")]
    for d in devices:
        marks = [m for m, on in (("input", d.default_input), ("output", d.default_output)) if on]
        rows.append((str(d.index), d.name, str(d.max_input_channels), str(d.max_output_channels),
                     f"{d.default_samplerate:g}", ", ".join(marks)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)


# --------------------------------------------------------------------------- choosing

def _listing(devices: Sequence[DeviceInfo], kind: str) -> str:
    usable = [d for d in devices if d.channels(kind) > 0]
    if not usable:
        return f"there is no {kind} device"
    return f"available {kind} devices: " + ", ".join(f"{d.index}: {d.name!r}" for d in usable)


def resolve_device(spec: str | int, kind: str, devices: Sequence[DeviceInfo]) -> DeviceInfo:
    """Pick the ``kind`` ("input" or "output") device named by ``spec``.

    Empty: the system default. A number: that index. Otherwise a case-insensitive
    part of the name; an exact name wins, several partial matches are an error.
    """
    if kind not in ("input", "output"):
        raise ValueError(f"kind must be 'input' or 'output', got {kind!r}")
    usable = [d for d in devices if d.channels(kind) > 0]
    role = "capture" if kind == "input" else "playback"
    if not usable:
        raise NoAudioDevicesError(f"there is no {role} device on this machine. {FILE_HINT}")
    text = str(spec).strip()
    if not text:
        flagged = [d for d in usable if (d.default_input if kind == "input" else d.default_output)]
        return (flagged or usable)[0]
    if text.lstrip("-").isdigit():
        index = int(text)
        for d in devices:
            if d.index == index:
                if d.channels(kind) == 0:
                    raise AudioDeviceError(
                        f"audio device {index} ({d.name!r}) has no {kind} channels; {_listing(devices, kind)}"
                    )
                return d
        raise AudioDeviceError(f"there is no audio device with index {index}; {_listing(devices, kind)}")
    low = text.lower()
    exact = [d for d in usable if d.name.lower() == low]
    if len(exact) == 1:
        return exact[0]
    matches = exact or [d for d in usable if low in d.name.lower()]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise AudioDeviceError(f"no {kind} device matches {text!r}; {_listing(devices, kind)}")
    raise AudioDeviceError(
        f"{kind} device {text!r} is ambiguous, it matches: "
        + ", ".join(f"{d.index}: {d.name!r}" for d in matches)
        + "; give the full name or the index"
    )


COMMON_RATES = (48000, 44100, 32000, 22050, 16000, 8000)


def choose_format(
    device: DeviceInfo,
    kind: str,
    supports: Callable[[int, int], bool],
    preferred_rate: int,
    required_rate: int = 0,
    required_channels: int = 0,
) -> tuple[int, int]:
    """(rate, channels) to open ``device`` with: mono at ``preferred_rate`` when it takes
    that, else the closest it takes (its default rate, common rates; 2 or more channels).

    ``required_*`` (non-zero) allow only that value. ``supports(rate, channels)`` asks the device.
    """
    if required_rate:
        rates = [required_rate]
    else:
        rates = [preferred_rate, int(device.default_samplerate)]
        rates += [r for r in COMMON_RATES if r not in rates]
    most = max(1, device.channels(kind))
    if required_channels:
        channels = [required_channels]
    else:
        channels = [c for c in (1, 2, most) if c <= most]
        channels = list(dict.fromkeys(channels))
    for rate in dict.fromkeys(r for r in rates if r > 0):
        for ch in channels:
            if supports(rate, ch):
                return rate, ch
    wanted = f"{required_rate} Hz" if required_rate else "any common rate"
    raise AudioDeviceError(
        f"{kind} device {device.index} ({device.name!r}) does not take 16-bit audio at {wanted} "
        f"with {' or '.join(map(str, channels))} channel(s); "
        f"its default rate is {device.default_samplerate:g} Hz"
    )


def check_capture_available(audio: AudioConfig) -> DeviceInfo:
    """The configured capture device, or a clear AudioDeviceError (before any model loads)."""
    return resolve_device(audio.input_device, "input", probe(audio.backend))


def check_playback_available(audio: AudioConfig) -> DeviceInfo:
    """The configured playback device, or a clear AudioDeviceError."""
    return resolve_device(audio.output_device, "output", probe(audio.backend))


def as_dicts(devices: Sequence[DeviceInfo]) -> list[dict[str, object]]:
    return [asdict(d) for d in devices]
