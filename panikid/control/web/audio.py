"""The WebSocket audio endpoint, ``/audio``: raw PCM both ways, for the status page and any program.

Framing (documented in the README, "WebSocket audio"):

- the server's first message is text: ``{"type": "session", "session": N, "sample_rate": 16000,
  "channels": 1, "format": "s16le", "frame_ms": 20}``;
- the client sends **binary** messages of 16 kHz mono s16le PCM (any whole number of samples; 20 ms is
  usual), without pause (silence too: a session that sends nothing for ``web.session_timeout_seconds``
  is ended), and may send **text** messages that are commands (``{"command": "listen"}``), each answered
  by an ``ack`` as on ``/ws``;
- the server sends **binary** reply audio in the same format, in real time (at most ``LEAD_SECONDS``
  ahead), a text ``{"type": "clear"}`` when the reply was cut (drop what is queued), and a text
  ``{"type": "end", "reason": ...}`` before it closes the session.

Access is ``/ws``'s: the token beyond loopback (``?token=`` from a browser), the Origin check. While
another session holds the floor the upgrade is refused with 409 (one conversation at a time).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from ...transports.remote import FloorBusy, RemoteFloor, RemoteSession
from .ws_frames import CheckedWebSocketResponse

if TYPE_CHECKING:
    from .surface import WebSurface

log = logging.getLogger(__name__)

RATE = 16000
FRAME_MS = 20
FRAME_BYTES = RATE * FRAME_MS // 1000 * 2
LEAD_SECONDS = 0.06
"""How far ahead of real time reply audio is sent (the client's prebuffer)."""
MAX_AUDIO_MESSAGE = 64 * 1024
SEND_DEADLINE = 5.0


def peer_of(request: web.Request) -> str:
    return request.remote or "unknown"


def open_session(floor: RemoteFloor | None, kind: str, peer: str, out_rate: int) -> RemoteSession:
    """A new session on the floor, or an HTTP error that says why not."""
    if floor is None:
        raise web.HTTPServiceUnavailable(text="remote audio sessions are off (web.audio_sessions = false)\n")
    try:
        return floor.open(kind, peer, out_rate)
    except FloorBusy as exc:
        raise web.HTTPConflict(text=f"{exc}\n") from None


class AudioWebSocket:
    """Serves ``/audio`` for the web surface (its guard, its command handler)."""

    def __init__(self, surface: WebSurface) -> None:
        self.surface = surface

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        s = self.surface
        s._guard(request)
        session = open_session(s.control.remote_floor(), "websocket", peer_of(request), RATE)
        floor = s.control.remote_floor()
        assert floor is not None
        ws = CheckedWebSocketResponse(max_msg_size=MAX_AUDIO_MESSAGE, heartbeat=10.0)
        try:
            await ws.prepare(request)
        except Exception:
            floor.end(session, "closed")
            raise
        await ws.send_str(json.dumps({"type": "session", "session": session.id, "sample_rate": RATE,
                                      "channels": 1, "format": "s16le", "frame_ms": FRAME_MS}))
        session.lead_seconds = LEAD_SECONDS
        sender = asyncio.create_task(self._send_loop(ws, session, floor), name=f"audio-ws-{session.id}-send")
        watcher = asyncio.create_task(self._close_when_ended(ws, session), name=f"audio-ws-{session.id}-end")
        odd = 0
        try:
            async for msg in ws:
                if msg.type == WSMsgType.BINARY:
                    data: bytes = msg.data
                    if len(data) % 2:
                        odd += 1
                        if odd == 1:
                            await ws.send_str(json.dumps({"type": "error", "message":
                                "audio messages must hold whole 16-bit samples (an even number of bytes); "
                                f"dropped one of {len(data)} bytes"}))
                        continue
                    session.feed(data)
                elif msg.type == WSMsgType.TEXT:
                    reply = self.surface._command(msg.data)
                    await ws.send_str(json.dumps({"type": "ack", **reply}))
                else:
                    break
        finally:
            floor.end(session, session.end_reason or "closed")
            for task in (sender, watcher):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            if not ws.closed:
                with contextlib.suppress(Exception):
                    await ws.close()
        return ws

    async def _close_when_ended(self, ws: web.WebSocketResponse, session: RemoteSession) -> None:
        await session.ended.wait()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(1.0):
                await ws.send_str(json.dumps({"type": "end", "reason": session.end_reason}))
                await ws.close(message=session.end_reason[:100].encode())

    async def _send_loop(self, ws: web.WebSocketResponse, session: RemoteSession, floor: RemoteFloor) -> None:
        """Reply audio at playback pace: never more than ``LEAD_SECONDS`` ahead of the clock."""
        played_until = time.monotonic()  # when what was sent will have been played
        generation = session.playback.generation
        try:
            while not session.ended.is_set():
                now = time.monotonic()
                if session.playback.generation != generation:
                    generation = session.playback.generation
                    played_until = now
                    await self._send(ws.send_str(json.dumps({"type": "clear"})))
                played_until = max(played_until, now)
                ahead = played_until - now
                if ahead > LEAD_SECONDS:
                    await asyncio.sleep(ahead - LEAD_SECONDS)
                    continue
                chunk = session.playback.pull(FRAME_BYTES)
                if chunk is None:
                    await asyncio.sleep(FRAME_MS / 2000)
                    continue
                await self._send(ws.send_bytes(chunk))
                played_until += len(chunk) / 2 / RATE
        except (TimeoutError, ConnectionError, RuntimeError) as exc:
            floor.end(session, f"cannot send to it ({type(exc).__name__})")

    @staticmethod
    async def _send(coro: Any) -> None:
        async with asyncio.timeout(SEND_DEADLINE):
            await coro
