"""Refuse unmasked WebSocket frames from clients (RFC 6455, section 5.1).

A client must mask every frame it sends, and a server must close the
connection when one is not masked. aiohttp's reader accepts such frames, so
:class:`MaskCheck` looks at each frame header on its way in: a pure scanner
(``feed(data) -> bool``, no I/O) that knows only where headers are, and a thin
wrapper that feeds aiohttp's own parser and fails the connection with a
protocol error (1002) at the first unmasked frame.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import WSCloseCode, web
from aiohttp.http import WebSocketError

log = logging.getLogger(__name__)


class FrameScanner:
    """Follows frame boundaries in a client's byte stream; reports an unmasked frame."""

    def __init__(self) -> None:
        self._head = b""  # bytes of a frame header read so far
        self._skip = 0  # payload bytes of the current frame still to pass over

    def feed(self, data: bytes) -> bool:
        """False as soon as a frame without the mask bit starts in ``data``."""
        pos = 0
        while pos < len(data):
            if self._skip:
                step = min(self._skip, len(data) - pos)
                self._skip -= step
                pos += step
                continue
            need = self._header_length()
            take = max(0, min(need - len(self._head), len(data) - pos))
            self._head += data[pos:pos + take]
            pos += take
            if len(self._head) >= 2 and not self._head[1] & 0x80:
                return False
            if len(self._head) < self._header_length():
                continue
            self._skip = self._payload_length()
            self._head = b""
        return True

    def _header_length(self) -> int:
        if len(self._head) < 2:
            return 2
        flag = self._head[1] & 0x7F
        return 2 + (2 if flag == 126 else 8 if flag == 127 else 0) + 4  # + the 4-byte mask

    def _payload_length(self) -> int:
        flag = self._head[1] & 0x7F
        if flag == 126:
            return int.from_bytes(self._head[2:4], "big")
        if flag == 127:
            return int.from_bytes(self._head[2:10], "big")
        return flag


class MaskCheck:
    """Sits in front of aiohttp's WebSocket parser with the same two methods."""

    def __init__(self, parser: Any, queue: Any) -> None:
        self._parser = parser
        self._queue = queue  # where the parser puts messages: the handler reads the error there
        self._scanner = FrameScanner()
        self.failed = False

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        if self.failed:
            return True, b""
        if not self._scanner.feed(bytes(data)):
            self.failed = True
            error = WebSocketError(WSCloseCode.PROTOCOL_ERROR, "a client frame was not masked (RFC 6455, 5.1)")
            self._queue.set_exception(error)  # the handler receives it; aiohttp closes with 1002
            return True, b""
        result: tuple[bool, bytes] = self._parser.feed_data(data)
        return result

    def feed_eof(self) -> None:
        self._parser.feed_eof()


class CheckedWebSocketResponse(web.WebSocketResponse):
    """aiohttp's WebSocket response with every client frame's mask checked.

    The check goes in where aiohttp sets its parser up, before the first byte
    after the handshake is parsed. With an aiohttp that keeps its parser
    elsewhere, frames go unchecked (as before) and a warning says so once.
    """

    def _post_start(self, request: Any, protocol: Any, writer: Any) -> None:
        proto = request.protocol
        known = hasattr(proto, "_payload_parser") and hasattr(proto, "_message_tail")
        tail = b""
        if known:  # frames sent along with the handshake go through the check, too
            tail, proto._message_tail = proto._message_tail, b""
        super()._post_start(request, protocol, writer)
        parser = getattr(proto, "_payload_parser", None)
        queue = getattr(self, "_reader", None)
        if not known or parser is None or not hasattr(queue, "set_exception"):
            _warn_once()
            if tail and parser is not None:
                parser.feed_data(tail)
            return
        check = MaskCheck(parser, queue)
        proto._payload_parser = check
        if tail and check.feed_data(tail)[0]:
            proto.close()


_warned: list[bool] = []


def _warn_once() -> None:
    if not _warned:
        _warned.append(True)
        log.warning("web: this aiohttp version does not let panikid check that WebSocket frames are masked")
