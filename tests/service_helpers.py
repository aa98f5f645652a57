"""Helpers for the service tests: a notify socket (as systemd's) and the daemon as a subprocess."""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from panikid.audio.wav import write_wav

REPO = Path(__file__).resolve().parent.parent


def noise_wav(path: Path, seconds: float, level: int = 60, seed: int = 1) -> Path:
    """Quiet room noise (no speech, no wake word) as 16 kHz mono."""
    rng = np.random.default_rng(seed)
    pcm = (rng.normal(0, level, int(seconds * 16000))).clip(-32768, 32767).astype("<i2").tobytes()
    write_wav(path, pcm, 16000)
    return path


@dataclass
class Datagram:
    t: float
    pid: int
    fields: dict[str, str]


class NotifySocket:
    """An AF_UNIX datagram socket standing in for systemd's notify socket (with SO_PASSCRED)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.received: list[Datagram] = []

    def poll(self, seconds: float) -> list[Datagram]:
        """Collect datagrams for up to ``seconds``."""
        end = time.monotonic() + seconds
        got = []
        while time.monotonic() < end:
            try:
                data, anc, _flags, _addr = self.sock.recvmsg(4096, socket.CMSG_SPACE(12))
            except TimeoutError:
                continue
            pid = 0
            for level, kind, payload in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    pid, _uid, _gid = struct.unpack("iII", payload[:12])
            fields = dict(line.split("=", 1) for line in data.decode().splitlines() if "=" in line)
            d = Datagram(time.monotonic(), pid, fields)
            got.append(d)
            self.received.append(d)
        return got

    def wait_for(self, key: str, timeout: float) -> Datagram:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for d in self.poll(0.2):
                if key in d.fields:
                    return d
        raise AssertionError(f"no {key} within {timeout} s; got {[d.fields for d in self.received]}")

    def close(self) -> None:
        self.sock.close()


class DaemonProcess:
    """``panikid run`` in a fresh process, its --events lines read in the background."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        full_env = {k: v for k, v in os.environ.items() if not k.startswith(("PANIKID_", "NOTIFY_", "WATCHDOG_"))}
        full_env.update({"HF_HUB_OFFLINE": "1", **env})
        self.proc = subprocess.Popen([sys.executable, "-m", "panikid", "run", *args], cwd=REPO, env=full_env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.events: queue.Queue[dict] = queue.Queue()
        self.stderr_lines: list[str] = []
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("{"):
                self.events.put(json.loads(line))

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr_lines.append(line)

    @property
    def stderr(self) -> str:
        return "".join(self.stderr_lines)

    def wait_event(self, type_: str, timeout: float) -> dict:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                e = self.events.get(timeout=0.2)
            except queue.Empty:
                if self.proc.poll() is not None and self.events.empty():
                    break
                continue
            if e["type"] == type_:
                return e
        raise AssertionError(f"no {type_!r} event within {timeout} s; exit={self.proc.poll()}\n{self.stderr[-3000:]}")

    def wait_stderr(self, text: str, timeout: float = 10.0) -> str:
        """The log so far once it contains ``text`` (stderr is read by its own thread, so a
        log line may trail an event that was written after it)."""
        end = time.monotonic() + timeout
        while text not in self.stderr and time.monotonic() < end:
            time.sleep(0.05)
        return self.stderr

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
