"""Helpers for the service tests: a notify socket (as systemd's).

The daemon itself runs through :class:`daemons.DaemonProcess`.
"""

from __future__ import annotations

import socket
import struct
import time
from dataclasses import dataclass
from pathlib import Path


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
