"""The real daemon as a subprocess (``panikid run --input WAV --events FILE``), with MQTT on a
private Mosquitto, Hermes on, and the web surface on a free port: what a user runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from mosquitto import Mosquitto, free_port

REPO = Path(__file__).resolve().parent.parent


class DaemonProcess:
    def __init__(self, dir: Path, wav: Path, broker: Mosquitto, device_id: str = "fuzz",
                 env: dict[str, str] | None = None) -> None:
        self.dir = dir
        self.device_id = device_id
        self.base = f"panikid/{device_id}"
        self.web_port = free_port()
        self.url = f"http://127.0.0.1:{self.web_port}"
        self.events_path = dir / "events.jsonl"
        self.stderr_path = dir / "daemon.log"
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("PANIKID_")}
        full_env.update({
            "HF_HUB_OFFLINE": "1", "PANIKID_GENERAL_DEVICE_ID": device_id,
            "PANIKID_MQTT_ENABLED": "true", "PANIKID_MQTT_HOST": "127.0.0.1", "PANIKID_MQTT_PORT": str(broker.port),
            "PANIKID_MQTT_HERMES": "true", "PANIKID_WEB_PORT": str(self.web_port), **(env or {}),
        })
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "panikid", "run", "--input", str(wav), "--events", str(self.events_path)],
                env=full_env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=err)
        self._seen: list[dict[str, Any]] = []
        self._offset = 0

    def events(self) -> list[dict[str, Any]]:
        """Every complete line the daemon wrote to its --events file so far."""
        if self.events_path.exists():
            with open(self.events_path, "rb") as f:
                f.seek(self._offset)
                data = f.read()
            end = data.rfind(b"\n") + 1
            for line in data[:end].splitlines():
                self._seen.append(json.loads(line))
            self._offset += end
        return self._seen

    def wait_event(self, pred: Any, timeout: float = 120.0, after: int = 0) -> dict[str, Any]:
        """The first event (from index ``after``) for which ``pred(event)`` holds."""
        deadline = time.monotonic() + timeout
        while True:
            for e in self.events()[after:]:
                if pred(e):
                    return e
            if self.proc.poll() is not None or time.monotonic() > deadline:
                types = [e["type"] for e in self.events()[after:]][-40:]
                raise AssertionError(f"no matching event (exit {self.proc.poll()}); last seen: {types}\n"
                                     f"{self.log()[-3000:]}")
            time.sleep(0.05)

    def log(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, as systemd stops it; the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            raise AssertionError("the daemon did not stop within its deadline") from None
