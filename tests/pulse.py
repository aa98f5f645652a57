"""A private PulseAudio server with a virtual microphone and speaker, for tests.

The daemon under test reaches it through ALSA's pulse plugin, so
sounddevice/pyaudio -> PortAudio -> ALSA -> PulseAudio runs as on a real
device, with a real clock:

* sink ``vmicsink``: what is played into it (``play``) is what the virtual
  microphone (its monitor, ALSA pcm ``vmic``) captures;
* sink ``vspk``: the virtual speaker (ALSA pcm ``vspk``); its monitor is what
  ``start_recording``/``stop_recording`` hear.

Both run at 16000 Hz mono s16le. ALSA reads its configuration once per
process, so whatever opens PortAudio must run in a subprocess started with
``server.env``. Tests skip (with the reason) when PulseAudio is not installed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

TOOLS = ("pulseaudio", "pactl", "paplay", "parec")


@dataclass(frozen=True)
class ExtraSink:
    """Another null sink, e.g. a speaker that runs at 48000 Hz stereo."""

    name: str
    rate: int = 48000
    channels: int = 2


def missing_tools() -> list[str]:
    return [t for t in TOOLS if shutil.which(t) is None]


def skip_without_pulseaudio() -> None:
    missing = missing_tools()
    if missing:
        pytest.skip(f"PulseAudio is not installed (missing: {', '.join(missing)})")


@dataclass
class PulseServer:
    dir: Path
    env: dict[str, str]
    alsa_config: Path
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _recorder: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _record_file: Path | None = field(default=None, repr=False)

    def run(self, args: Sequence[str], timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            list(args), env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )

    def play(self, wav_path: str | os.PathLike[str], device: str = "vmicsink", timeout: float = 60.0) -> None:
        """Play a WAV into the virtual microphone (blocks until it was played)."""
        res = self.run(["paplay", f"--device={device}", str(wav_path)], timeout=timeout)
        if res.returncode != 0:
            raise RuntimeError(f"paplay failed ({res.returncode}): {res.stderr.strip()}")

    def play_async(
        self, wav_path: str | os.PathLike[str], device: str = "vmicsink"
    ) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            ["paplay", f"--device={device}", str(wav_path)],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def start_recording(self, device: str = "vspk.monitor", rate: int = 16000, channels: int = 1) -> None:
        """Record what the virtual speaker plays (raw s16le) until ``stop_recording``."""
        if self._recorder is not None:
            raise RuntimeError("already recording")
        self._record_file = self.dir / f"rec-{time.monotonic_ns()}.raw"
        with open(self._record_file, "wb") as out:
            self._recorder = subprocess.Popen(
                [
                    "parec",
                    f"--device={device}",
                    f"--rate={rate}",
                    f"--channels={channels}",
                    "--format=s16le",
                    "--raw",
                    "--latency-msec=20",
                ],
                env=self.env,
                stdout=out,
                stderr=subprocess.DEVNULL,
            )
        # parec is recording once the server lists its source output.
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline:
            res = self.run(["pactl", "list", "short", "source-outputs"], timeout=10)
            if res.stdout.strip():
                return
            if self._recorder.poll() is not None:
                raise RuntimeError("parec exited before it started recording")
            time.sleep(0.02)
        raise RuntimeError("parec did not start recording within 10 s")

    def stop_recording(self) -> bytes:
        if self._recorder is None or self._record_file is None:
            raise RuntimeError("not recording")
        self._recorder.terminate()
        try:
            self._recorder.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._recorder.kill()
            self._recorder.wait()
        self._recorder = None
        data = self._record_file.read_bytes()
        return data[: len(data) // 2 * 2]

    def _pactl(self, *args: str) -> str:
        res = self.run(["pactl", *args])
        if res.returncode != 0:
            raise RuntimeError(f"pactl {' '.join(args)} failed ({res.returncode}): {res.stderr.strip()}")
        return res.stdout

    def unplug(self, name: str) -> None:
        """Remove a null sink as a USB device is pulled out: the streams on it stall, and it is gone.

        PulseAudio itself would move those streams to another device (its core rescues them), where
        they would go on; an unplugged ALSA device stops them. So they are first moved to ``limbo``,
        a null sink that is suspended: no audio comes from it and none is taken.
        """
        def rows(kind: str) -> list[list[str]]:
            return [ln.split("\t") for ln in self._pactl("list", "short", kind).splitlines()]

        sink = next((r[0] for r in rows("sinks") if r[1] == name), None)
        monitor = next((r[0] for r in rows("sources") if r[1] == f"{name}.monitor"), None)
        for r in rows("sink-inputs"):
            if r[1] == sink:
                self._pactl("move-sink-input", r[0], "limbo")
        for r in rows("source-outputs"):
            if r[1] == monitor:
                self._pactl("move-source-output", r[0], "limbo.monitor")
        for r in rows("modules"):
            if r[1] == "module-null-sink" and f"sink_name={name} " in " ".join(r[2:]) + " ":
                self._pactl("unload-module", r[0])
                return
        raise RuntimeError(f"no null sink {name!r} is loaded")

    def plug(self, name: str, rate: int = 16000, channels: int = 1) -> None:
        """Add a null sink (back): the device is plugged in."""
        self._pactl("load-module", "module-null-sink", f"sink_name={name}", f"rate={rate}",
                    f"channels={channels}", "format=s16le", "norewinds=1")

    def close(self) -> None:
        if self._recorder is not None:
            with contextlib.suppress(Exception):
                self.stop_recording()


def alsa_config_text(extra_pcms: str = "") -> str:
    return (
        'pcm.vmic { type pulse; device "vmicsink.monitor" }\n'
        'pcm.vspk { type pulse; device "vspk" }\n'
        'pcm.!default { type asym; capture.pcm "vmic"; playback.pcm "vspk" }\n'
        "ctl.!default { type pulse }\n" + extra_pcms
    )


@contextlib.contextmanager
def pulse_server(
    tmpdir: str | os.PathLike[str],
    extra_sinks: Sequence[ExtraSink] = (),
    extra_alsa: str = "",
    start_timeout: float = 15.0,
) -> Iterator[PulseServer]:
    """Start a private PulseAudio server in ``tmpdir``; stop it on exit."""
    skip_without_pulseaudio()
    root = Path(tmpdir)
    home, run = root / "home", root / "run"
    home.mkdir(parents=True, exist_ok=True)
    run.mkdir(parents=True, exist_ok=True)
    os.chmod(run, 0o700)
    socket = root / "native"
    lines = [
        f"load-module module-native-protocol-unix auth-anonymous=1 socket={socket}",
        "load-module module-null-sink sink_name=vspk rate=16000 channels=1 format=s16le norewinds=1",
        "load-module module-null-sink sink_name=vmicsink rate=16000 channels=1 format=s16le norewinds=1",
    ]
    for sink in extra_sinks:
        lines.append(
            f"load-module module-null-sink sink_name={sink.name} rate={sink.rate} "
            f"channels={sink.channels} format=s16le norewinds=1"
        )
    # Where ``unplug`` parks the streams of a device it removes: suspended, so they stall.
    lines += ["load-module module-null-sink sink_name=limbo rate=16000 channels=1 format=s16le norewinds=1",
              "suspend-sink limbo 1"]
    lines += ["set-default-sink vspk", "set-default-source vmicsink.monitor"]
    default_pa = root / "default.pa"
    default_pa.write_text("\n".join(lines) + "\n")
    alsa_config = root / "asound.conf"
    alsa_config.write_text(alsa_config_text(extra_alsa))

    env = dict(os.environ)
    env.update(
        HOME=str(home),
        XDG_RUNTIME_DIR=str(run),
        PULSE_SERVER=f"unix:{socket}",
        ALSA_CONFIG_PATH=str(alsa_config),
    )
    log_file = root / "pulse.log"
    proc = subprocess.Popen(
        [
            "pulseaudio",
            "-n",
            "-F",
            str(default_pa),
            "--daemonize=no",
            "--exit-idle-time=-1",
            "--use-pid-file=no",
            "--disable-shm=yes",
            f"--log-target=file:{log_file}",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = PulseServer(dir=root, env=env, alsa_config=alsa_config, proc=proc)
    try:
        deadline = time.monotonic() + start_timeout
        while True:
            if proc.poll() is not None:
                log = log_file.read_text(errors="replace") if log_file.exists() else ""
                raise RuntimeError(f"pulseaudio exited with {proc.returncode}: {log[-2000:]}")
            res = subprocess.run(["pactl", "info"], env=env, capture_output=True, timeout=10, check=False)
            if res.returncode == 0:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"pulseaudio did not answer within {start_timeout} s")
            time.sleep(0.05)
        yield server
    finally:
        server.close()
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
