"""Reading Wyoming events off a connection, strictly: a JSON header line, then ``data_length`` bytes of
JSON data and ``payload_length`` bytes of payload. Anything else is a :class:`WireError` naming what was
wrong (the ``wyoming`` package's own reader takes bad input for the end of the connection, silently)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from wyoming.event import Event

MAX_HEADER = 64 * 1024
MAX_DATA = 64 * 1024
MAX_PAYLOAD = 4 * 1024 * 1024
"""An audio chunk is a few kilobytes; nothing a satellite is sent comes near these."""


class WireError(ValueError):
    """The peer sent something that is not a Wyoming event; the message says what."""


def _length(header: dict[str, Any], key: str, limit: int) -> int:
    value = header.get(key)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= limit:
        raise WireError(f"{key} must be a whole number from 0 to {limit}, got {value!r:.40}")
    return value


def parse_header(line: bytes) -> tuple[str, dict[str, Any], int, int]:
    """(type, inline data, data_length, payload_length) of a header line."""
    try:
        header = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WireError(f"the event header is not JSON: {exc}") from None
    if not isinstance(header, dict):
        raise WireError(f"the event header must be a JSON object, got {type(header).__name__}")
    kind = header.get("type")
    if not isinstance(kind, str) or not kind:
        raise WireError('the event header has no "type"')
    data = header.get("data") or {}
    if not isinstance(data, dict):
        raise WireError(f'the "data" of a {kind} event must be an object')
    return kind, data, _length(header, "data_length", MAX_DATA), _length(header, "payload_length", MAX_PAYLOAD)


async def read_event(reader: asyncio.StreamReader) -> Event | None:
    """The next event, None at the end of the connection; WireError on anything malformed."""
    try:
        line = await reader.readline()
    except (asyncio.LimitOverrunError, ValueError):
        raise WireError(f"an event header longer than {MAX_HEADER} bytes") from None
    if not line:
        return None
    kind, data, data_length, payload_length = parse_header(line)
    try:
        if data_length:
            extra = json.loads(await reader.readexactly(data_length))
            if not isinstance(extra, dict):
                raise WireError(f'the data of a {kind} event must be a JSON object')
            data = {**data, **extra}
        payload = await reader.readexactly(payload_length) if payload_length else None
    except asyncio.IncompleteReadError:
        raise WireError(f"the connection ended inside a {kind} event") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WireError(f"the data of a {kind} event is not JSON: {exc}") from None
    return Event(type=kind, data=data, payload=payload)
