"""WebRTC audio sessions (aiortc, the ``webrtc`` extra): the status page's Talk button.

Signalling is one HTTP exchange on the web server, without trickle ICE: the browser gathers its
candidates, POSTs its offer (``{"sdp": ..., "type": "offer"}``) to ``/webrtc/offer`` and gets the answer
with panikid's host candidates. No STUN or TURN server is asked for (on a LAN the host candidates
connect). The browser's Opus audio arrives as 48 kHz frames, mixed to mono and resampled to 16 kHz into
the session; the reply goes back on panikid's own track, 20 ms frames at 48 kHz, paced by ``recv``.

A vanished browser is noticed by the session's audio deadline (``web.session_timeout_seconds``; ICE's own
consent check takes ~30 s) or by the peer connection failing, whichever comes first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from ...transports.remote import RemoteFloor, RemoteSession
from ...transports.webrtc_media import RTC_RATE, hear, reply_track

log = logging.getLogger(__name__)

__all__ = ["RTC_RATE", "WebRtcSessions", "available"]
JITTER_SECONDS = 0.06
"""What the browser's jitter buffer holds after the last frame was sent (drain waits for it)."""


def available() -> str | None:
    """None when WebRTC can be served, else why not."""
    try:
        import aiortc  # noqa: F401
        import av  # noqa: F401
    except ImportError as exc:
        return f"WebRTC needs the 'webrtc' extra (aiortc): {exc}"
    return None


class WebRtcSessions:
    """The peer connections of WebRTC sessions (at most one holds the floor)."""

    def __init__(self) -> None:
        self.connections: set[Any] = set()
        self._closers: set[asyncio.Task[None]] = set()

    async def answer(self, offer: dict[str, Any], session: RemoteSession, floor: RemoteFloor) -> dict[str, str]:
        from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.connections.add(pc)
        tasks: list[asyncio.Task[None]] = []
        session.lead_seconds = JITTER_SECONDS

        @pc.on("track")  # type: ignore[misc]
        def on_track(track: Any) -> None:
            if track.kind == "audio":
                tasks.append(asyncio.create_task(hear(track, session, floor), name=f"webrtc-{session.id}-hear"))

        @pc.on("connectionstatechange")  # type: ignore[misc]
        async def on_state() -> None:
            log.info("webrtc session #%d: connection %s", session.id, pc.connectionState)
            if pc.connectionState in ("failed", "closed"):
                floor.end(session, "closed" if pc.connectionState == "closed" else "connection failed")

        async def close_when_ended() -> None:
            await session.ended.wait()
            for t in tasks:  # the listeners (never this task itself)
                t.cancel()
            with contextlib.suppress(Exception):
                await pc.close()
            self.connections.discard(pc)

        closer = asyncio.create_task(close_when_ended(), name=f"webrtc-{session.id}-end")
        self._closers.add(closer)
        closer.add_done_callback(self._closers.discard)
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer["sdp"], type=offer["type"]))
            pc.addTrack(reply_track(session))
            await pc.setLocalDescription(await pc.createAnswer())  # gathers the host candidates
        except Exception:
            floor.end(session, "bad offer")
            raise
        return {"sdp": pc.localDescription.sdp, "type": pc.localDescription.type}

    async def close(self) -> None:
        """Every peer connection closed (the sessions were ended first, so their closers run)."""
        closers, self._closers = self._closers, set()
        if closers:
            await asyncio.wait(closers, timeout=2.0)
        for pc in list(self.connections):
            with contextlib.suppress(Exception):
                await pc.close()
        self.connections.clear()
