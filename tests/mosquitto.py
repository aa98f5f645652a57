"""A private Mosquitto broker per test (plain or TLS + password), and a small subscriber."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from helpers import free_port
from paho.mqtt.enums import CallbackAPIVersion

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def make_tls(dir: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for localhost / 127.0.0.1: (ca, cert, key)."""
    ca_key, ca, key, csr, cert = (dir / n for n in ("ca.key", "ca.crt", "server.key", "server.csr", "server.crt"))
    ext = dir / "san.ext"
    ext.write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")

    def ssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)

    ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(ca_key), "-out", str(ca),
        "-days", "2", "-subj", "/CN=panikid test CA")
    ssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr), "-subj", "/CN=localhost")
    ssl("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial",
        "-out", str(cert), "-days", "2", "-extfile", str(ext))
    return ca, cert, key


class Mosquitto:
    def __init__(self, dir: Path, users: dict[str, str] | None = None, tls: bool = False) -> None:
        self.dir = dir
        self.port = free_port()
        self.log = dir / "mosquitto.log"
        lines = [f"listener {self.port} 127.0.0.1", "persistence false", "user root",
                 f"log_dest file {self.log}", "log_type all"]
        if users:
            pw = dir / "passwd"
            pw.touch()
            for name, password in users.items():
                subprocess.run(["mosquitto_passwd", "-b", str(pw), name, password], check=True, timeout=30)
            lines += ["allow_anonymous false", f"password_file {pw}"]
        else:
            lines.append("allow_anonymous true")
        self.ca: Path | None = None
        if tls:
            self.ca, cert, key = make_tls(dir)
            lines += [f"cafile {self.ca}", f"certfile {cert}", f"keyfile {key}"]
        self.conf = dir / "mosquitto.conf"
        self.conf.write_text("\n".join(lines) + "\n")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Mosquitto:
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.log.read_text() if self.log.exists() else ''}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("mosquitto did not start listening")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None


class Listener:
    """A test's own MQTT client: records every message on the topics it subscribed."""

    def __init__(self, port: int, topics: list[str], **tls: Any) -> None:
        self.messages: list[tuple[str, bytes, bool]] = []
        self.cond = threading.Condition()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        if tls:
            self.client.tls_set(ca_certs=str(tls["ca"]))
            self.client.username_pw_set(tls["user"], tls["password"])
        self.client.on_message = self._on_message
        self.client.on_connect = lambda c, *_: topics and c.subscribe([(t, 1) for t in topics])
        self.client.connect("localhost" if tls else "127.0.0.1", port)
        self.client.loop_start()

    def _on_message(self, client: Any, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        with self.cond:
            self.messages.append((msg.topic, bytes(msg.payload), bool(msg.retain)))
            self.cond.notify_all()

    def wait_for(self, topic: str, pred: Any = None, timeout: float = 60.0) -> tuple[bytes, bool]:
        """The first message on ``topic`` (whose payload satisfies ``pred``); fails after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for t, payload, retained in self.messages:
                    if t == topic and (pred is None or pred(payload)):
                        return payload, retained
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [(t, p[:200]) for t, p, _ in self.messages if t == topic]
                    raise AssertionError(f"no matching message on {topic} within {timeout}s; seen: {seen}")
                self.cond.wait(left)

    def events(self, topic: str) -> list[dict[str, Any]]:
        with self.cond:
            return [json.loads(p) for t, p, _ in self.messages if t == topic]

    def publish(self, topic: str, payload: bytes | str, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(10)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
