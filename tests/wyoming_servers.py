"""Real Wyoming servers on loopback, as a bigger box on the LAN would run them: wyoming-faster-whisper and
wyoming-piper (both from PyPI), each pointed at panikid's own bundled model, so nothing is downloaded.

Nothing may reach the network: the hub is offline and every HTTP(S) request goes to a closed port on
loopback, so a server that tried to download would fail at once instead of hanging.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from helpers import free_port, kill_process, stop_process

NO_NETWORK = {
    "HF_HUB_OFFLINE": "1",
    "http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9",
    "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9", "no_proxy": "", "NO_PROXY": "",
}


def bundled(role: str, name: str) -> Path:
    from panikid import models
    from panikid.config import ModelsConfig

    return models.resolve(role, name, ModelsConfig())


class WyomingServer:
    """One server as a subprocess on a free port; ``uri`` is what panikid's config names."""

    def __init__(self, name: str, args: list[str], dir: Path) -> None:
        self.name = name
        self.port = free_port()
        self.uri = f"tcp://127.0.0.1:{self.port}"
        self.dir = dir
        self.log_path = dir / f"{name}.log"
        data = dir / f"{name}-data"
        data.mkdir(parents=True, exist_ok=True)
        self.args = [sys.executable, "-m", name, "--uri", self.uri, "--data-dir", str(data), *args]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, deadline: float = 120.0) -> WyomingServer:
        """Start it and wait until its port takes connections; a RuntimeError with its log if it exits."""
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.args, stdout=log, stderr=subprocess.STDOUT,
                                         env={**os.environ, **NO_NETWORK})
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.proc.returncode}): {self.log()[-3000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name} did not listen on {self.port} within {deadline} s: {self.log()[-3000:]}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL, as a crash or a pulled plug would."""
        kill_process(self.proc)

    def stop(self) -> None:
        stop_process(self.proc)


def whisper_server(dir: Path) -> WyomingServer:
    """wyoming-faster-whisper with panikid's bundled tiny.en (a CTranslate2 directory)."""
    return WyomingServer("wyoming_faster_whisper", [
        "--model", str(bundled("stt", "tiny.en")), "--language", "en", "--stt-library", "faster-whisper",
        "--local-files-only", "--device", "cpu", "--compute-type", "int8", "--beam-size", "1", "--cpu-threads", "1",
    ], dir)


def piper_server(dir: Path, streaming: bool = True) -> WyomingServer:
    """wyoming-piper with panikid's bundled voice (en_US-joe-medium, given as its .onnx path)."""
    args = ["--voice", str(bundled("tts", "en_US-joe-medium"))]
    return WyomingServer("wyoming_piper", args if streaming else [*args, "--no-streaming"], dir)
