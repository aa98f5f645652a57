"""Logging set-up: the journal (with structured fields) under systemd, stderr otherwise.

Under systemd (``$JOURNAL_STREAM`` or ``$INVOCATION_ID`` set) records go to
journald's native socket as fields: MESSAGE=, PRIORITY=, CODE_*=, LOGGER=, and
TURN=, STATE=, BACKEND=, EVENT= when a record carries them (``extra={...}``), so
``journalctl -u panikid TURN=3`` shows one turn. If the journal socket cannot be
reached, records go to stderr (which systemd also collects).

Every handler gets ``RedactFilter``: no API key and no raw audio ever reaches a
log line, whatever a caller passes in.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import struct
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

JOURNAL_SOCKET = "/run/systemd/journal/socket"
STRUCTURED_FIELDS = ("TURN", "STATE", "BACKEND", "EVENT")
MAX_PLAIN_CHARS = 4000
"""Longer messages are cut: a log line is never a dump."""

# Shapes of API keys the cloud providers hand out, and "key=..." style assignments.
_SECRET_PATTERNS = [
    re.compile(r"sk-(?:ant-|proj-)?[A-Za-z0-9_\-]{16,}"),
    re.compile(r"AIza[0-9A-Za-z_\-]{30,}"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._\-]{16,}"),
    re.compile(r"(?i)((?:api[_-]?key|token|password|secret)[\"']?\s*[:=]\s*[\"']?)[^\s\"',}]{6,}"),
]
# Long runs of base64 or hex: encoded audio (or a key we do not know the shape of).
_BLOB = re.compile(r"[A-Za-z0-9+/=]{200,}|(?:\\x[0-9a-f]{2}){16,}")


def _known_secrets(environ: Mapping[str, str]) -> list[str]:
    """Secret values to scrub verbatim: *_API_KEY / *_TOKEN variables and systemd credentials."""
    found = [v for k, v in environ.items()
             if re.search(r"(API_KEY|TOKEN|PASSWORD|SECRET)$", k) and len(v) >= 6]
    cred_dir = environ.get("CREDENTIALS_DIRECTORY")
    if cred_dir:
        try:
            for p in Path(cred_dir).iterdir():
                value = p.read_text(encoding="utf-8", errors="replace").strip()
                if len(value) >= 6:
                    found.append(value)
        except OSError:
            pass
    return found


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    for value in secrets:
        text = text.replace(value, "[REDACTED]")
    for pat in _SECRET_PATTERNS:
        text = pat.sub(lambda m: (m.group(1) if m.re.groups else "") + "[REDACTED]", text)
    text = _BLOB.sub(lambda m: f"[{len(m.group(0))} chars of binary data]", text)
    if len(text) > MAX_PLAIN_CHARS:
        text = text[:MAX_PLAIN_CHARS] + f"... [{len(text) - MAX_PLAIN_CHARS} chars cut]"
    return text


class RedactFilter(logging.Filter):
    """Formats each record once, scrubbed: raw bytes become their length, keys become [REDACTED]."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        super().__init__()
        self.secrets = _known_secrets(os.environ if environ is None else environ)

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple):
            args = tuple(_safe_arg(a) for a in args)
        elif isinstance(args, Mapping):
            args = {k: _safe_arg(v) for k, v in args.items()}
        try:
            message = str(record.msg) % args if args else str(record.msg)
        except (TypeError, ValueError):
            message = f"{record.msg} {args}"
        record.msg = redact(message, self.secrets)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self.secrets)
        return True


def _safe_arg(value: object) -> object:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"<{len(value)} bytes>"
    if type(value).__name__ == "ndarray":
        return f"<array of {getattr(value, 'size', '?')} samples>"
    return value


def _field(name: str, value: str) -> bytes:
    data = value.encode("utf-8", errors="replace")
    if b"\n" in data:  # the journal's binary-safe form: NAME\n<le64 length><data>\n
        return name.encode() + b"\n" + struct.pack("<Q", len(data)) + data + b"\n"
    return name.encode() + b"=" + data + b"\n"


def _priority(levelno: int) -> int:
    return 3 if levelno >= logging.ERROR else 4 if levelno >= logging.WARNING else 6 if levelno >= logging.INFO else 7


class JournalHandler(logging.Handler):
    """Sends records to journald over its native protocol (no library needed)."""

    def __init__(self, path: str = JOURNAL_SOCKET, identifier: str = "panikid",
                 fallback: logging.Handler | None = None) -> None:
        super().__init__()
        self.path = path
        self.identifier = identifier
        self.fallback = fallback
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        self._sock.settimeout(1.0)

    def fields(self, record: logging.LogRecord) -> bytes:
        message = record.getMessage()
        if record.exc_text:
            message += "\n" + record.exc_text
        parts = [
            _field("MESSAGE", message),
            _field("PRIORITY", str(_priority(record.levelno))),
            _field("SYSLOG_IDENTIFIER", self.identifier),
            _field("LOGGER", record.name),
            _field("CODE_FILE", record.pathname),
            _field("CODE_LINE", str(record.lineno)),
            _field("CODE_FUNC", record.funcName),
        ]
        for name in STRUCTURED_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                parts.append(_field(name, str(value)))
        return b"".join(parts)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._sock.sendto(self.fields(record), self.path)
        except OSError:
            if self.fallback is not None:
                self.fallback.handle(record)

    def close(self) -> None:
        self._sock.close()
        super().close()


def under_systemd(environ: Mapping[str, str] | None = None) -> bool:
    environ = os.environ if environ is None else environ
    return bool(environ.get("JOURNAL_STREAM") or environ.get("INVOCATION_ID"))


def setup_logging(level: int, environ: Mapping[str, str] | None = None,
                  journal_socket: str = JOURNAL_SOCKET) -> logging.Handler:
    """Install the root handler (journal or stderr), with the redaction filter. Returns it."""
    environ = os.environ if environ is None else environ
    stderr = logging.StreamHandler(sys.stderr)
    handler: logging.Handler
    if under_systemd(environ):
        # The journal stamps time and unit itself.
        stderr.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        handler = JournalHandler(journal_socket, fallback=stderr)
    else:
        stderr.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler = stderr
    handler.addFilter(RedactFilter(environ))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    return handler
