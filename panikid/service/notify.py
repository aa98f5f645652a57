"""sd_notify: tell the service manager about readiness, status and liveness.

Uses systemd-python's ``systemd.daemon.notify`` when it is installed, else a
small pure-socket sender speaking the same protocol (one datagram of
newline-separated ``KEY=VALUE`` assignments to ``$NOTIFY_SOCKET``).
Both do nothing, and say so by returning False, when not run under systemd.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger(__name__)

SEND_DEADLINE = 1.0
"""A datagram send never blocks the daemon for longer than this."""


def _socket_address(value: str) -> str | None:
    if value.startswith("@"):
        return "\0" + value[1:]  # abstract namespace
    if value.startswith("/"):
        return value
    return None  # vsock and other schemes are not supported by the fallback


def send_datagram(message: str, environ: Mapping[str, str] | None = None) -> bool:
    """The pure-socket fallback: send ``message`` to $NOTIFY_SOCKET."""
    environ = os.environ if environ is None else environ
    address = _socket_address(environ.get("NOTIFY_SOCKET", ""))
    if address is None:
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
        sock.settimeout(SEND_DEADLINE)
        try:
            sock.connect(address)
            sock.sendall(message.encode("utf-8"))
        except OSError as exc:
            log.debug("sd_notify to %s failed: %s", environ.get("NOTIFY_SOCKET"), exc)
            return False
    return True


def _systemd_notify():  # type: ignore[no-untyped-def]
    try:
        from systemd import daemon
    except ImportError:
        return None
    return daemon.notify


class Notifier:
    """Sends sd_notify messages; ``enabled`` is False outside systemd."""

    def __init__(self, environ: Mapping[str, str] | None = None, use_systemd_python: bool = True) -> None:
        self.environ = os.environ if environ is None else environ
        self._lib = _systemd_notify() if use_systemd_python and environ is None else None
        self.sent = 0

    @property
    def enabled(self) -> bool:
        return bool(self.environ.get("NOTIFY_SOCKET"))

    @property
    def backend(self) -> str:
        return "systemd-python" if self._lib is not None else "socket"

    def notify(self, **fields: str) -> bool:
        """notify(READY="1", STATUS="listening") -> one datagram ``READY=1\\nSTATUS=listening``."""
        if not self.enabled:
            return False
        message = "\n".join(f"{k}={_one_line(v)}" for k, v in fields.items())
        ok = bool(self._lib(message)) if self._lib is not None else send_datagram(message, self.environ)
        self.sent += ok
        return ok


def _one_line(value: str) -> str:
    return " ".join(str(value).split())


def watchdog_seconds(environ: Mapping[str, str] | None = None) -> float | None:
    """The watchdog interval systemd asked for ($WATCHDOG_USEC, for this pid), or None."""
    environ = os.environ if environ is None else environ
    usec = environ.get("WATCHDOG_USEC", "")
    pid = environ.get("WATCHDOG_PID", "")
    if pid and pid != str(os.getpid()):
        return None
    try:
        value = int(usec)
    except ValueError:
        return None
    return value / 1_000_000 if value > 0 else None
