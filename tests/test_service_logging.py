"""Journal logging with structured fields, and the filter that keeps secrets and audio out."""

from __future__ import annotations

import logging
import socket
import struct
from pathlib import Path

import pytest

from panikid.service.logging import JournalHandler, RedactFilter, redact, setup_logging, under_systemd

KEY = "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789"


def _parse(datagram: bytes) -> dict[str, str]:
    """journald's native protocol: NAME=value lines, or NAME\\n<le64 length><bytes>\\n."""
    fields = {}
    i = 0
    while i < len(datagram):
        nl = datagram.index(b"\n", i)
        line = datagram[i:nl]
        if b"=" in line:
            name, value = line.split(b"=", 1)
            fields[name.decode()] = value.decode()
            i = nl + 1
        else:
            (size,) = struct.unpack("<Q", datagram[nl + 1:nl + 9])
            fields[line.decode()] = datagram[nl + 9:nl + 9 + size].decode()
            i = nl + 9 + size + 1
    return fields


@pytest.fixture
def journal(tmp_path: Path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(str(tmp_path / "journal.sock"))
    s.settimeout(2)
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def restore_root_logging():
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        yield
    finally:
        for h in list(root.handlers):
            root.removeHandler(h)
        for h in saved[0]:
            root.addHandler(h)
        root.setLevel(saved[1])


def test_journal_fields_and_redaction(journal: socket.socket, tmp_path: Path, restore_root_logging) -> None:
    handler = setup_logging(logging.INFO, {"INVOCATION_ID": "abc", "OPENAI_API_KEY": "plain-secret-value"},
                            journal_socket=str(tmp_path / "journal.sock"))
    assert isinstance(handler, JournalHandler)
    log = logging.getLogger("panikid.test")
    log.info("turn %d answered by %s with key %s, token plain-secret-value", 3, "cloud", KEY,
             extra={"TURN": 3, "STATE": "responding", "BACKEND": "openai"})
    f = _parse(journal.recv(65536))
    assert f["MESSAGE"] == "turn 3 answered by cloud with key [REDACTED], token [REDACTED]"
    assert (f["TURN"], f["STATE"], f["BACKEND"]) == ("3", "responding", "openai")
    assert f["PRIORITY"] == "6" and f["SYSLOG_IDENTIFIER"] == "panikid" and f["LOGGER"] == "panikid.test"

    log.warning("raw audio %s and an array %r", b"\x01\x02" * 800, bytearray(320))
    f = _parse(journal.recv(65536))
    assert f["MESSAGE"] == "raw audio <1600 bytes> and an array '<320 bytes>'"
    assert f["PRIORITY"] == "4"

    try:
        raise ValueError("line one\nline two")
    except ValueError:
        log.exception("failed with api_key=%s", "k3y-value-123456")
    f = _parse(journal.recv(65536))
    assert f["MESSAGE"].startswith("failed with api_key=[REDACTED]\nTraceback")  # binary-safe multi-line field
    assert "line two" in f["MESSAGE"] and f["PRIORITY"] == "3"


def test_secrets_from_the_credentials_directory(tmp_path: Path) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "secrets_anthropic_api_key").write_text("weird-shaped-secret-42\n")
    rec = logging.LogRecord("x", logging.INFO, __file__, 1, "using %s", ("weird-shaped-secret-42",), None)
    RedactFilter({"CREDENTIALS_DIRECTORY": str(creds)}).filter(rec)
    assert rec.getMessage() == "using [REDACTED]"


def test_redact_shapes() -> None:
    assert redact("Authorization: Bearer abcdefghijklmnopqrstuvwxyz") == "Authorization: Bearer [REDACTED]"
    assert redact("key AIza" + "x" * 35) == "key [REDACTED]"
    assert redact("audio " + "QUJD" * 100) == "audio [400 chars of binary data]"
    assert redact("nothing secret here") == "nothing secret here"


def test_stderr_outside_systemd(capsys: pytest.CaptureFixture[str], restore_root_logging) -> None:
    assert not under_systemd({}) and under_systemd({"JOURNAL_STREAM": "8:123"})
    handler = setup_logging(logging.INFO, {})
    assert not isinstance(handler, JournalHandler)
    logging.getLogger("panikid.test").info("hello %s", KEY)
    err = capsys.readouterr().err
    assert "hello [REDACTED]" in err and KEY not in err


def test_journal_unreachable_falls_back_to_stderr(tmp_path: Path, capsys, restore_root_logging) -> None:
    setup_logging(logging.INFO, {"JOURNAL_STREAM": "8:1"}, journal_socket=str(tmp_path / "missing"))
    logging.getLogger("panikid.test").error("still visible")
    assert "ERROR panikid.test: still visible" in capsys.readouterr().err
