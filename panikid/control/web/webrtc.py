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
import fractions
import logging
import time
from typing import Any

import numpy as np

from ...audio.convert import StreamResampler, float_to_pcm16
from ...transports.remote import RemoteFloor, RemoteSession

log = logging.getLogger(__name__)

RTC_RATE = 48000
FRAME_SAMPLES = RTC_RATE // 50  # 20 ms
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


def _reply_track(session: RemoteSession) -> Any:
    from aiortc import MediaStreamTrack
    from av import AudioFrame

    class ReplyTrack(MediaStreamTrack):  # type: ignore[misc]
        """The session's reply audio (silence between replies), 20 ms at a time, in real time."""

        kind = "audio"

        def __init__(self) -> None:
            super().__init__()
            self._pts = 0
            self._start: float | None = None

        async def recv(self) -> AudioFrame:
            if self._start is None:
                self._start = time.monotonic()
            due = self._start + self._pts / RTC_RATE
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -0.5:  # the loop was held up: start the clock again rather than burst
                self._start = time.monotonic() - self._pts / RTC_RATE
            want = FRAME_SAMPLES * 2
            pcm = session.playback.pull(want) or b""
            if len(pcm) < want:
                pcm += bytes(want - len(pcm))
            mono = np.frombuffer(pcm, dtype="<i2")
            stereo = np.repeat(mono, 2).reshape(1, -1)  # equal channels: no -3 dB upmix
            frame = AudioFrame.from_ndarray(stereo, format="s16", layout="stereo")
            frame.sample_rate = RTC_RATE
            frame.pts = self._pts
            frame.time_base = fractions.Fraction(1, RTC_RATE)
            self._pts += FRAME_SAMPLES
            return frame

    return ReplyTrack()


async def _hear(track: Any, session: RemoteSession, floor: RemoteFloor) -> None:
    """The browser's microphone into the session, as long as frames come."""
    from aiortc.mediastreams import MediaStreamError

    resamplers: dict[int, StreamResampler] = {}
    try:
        while not session.ended.is_set():
            frame = await track.recv()  # always drained: aiortc's queue is unbounded
            session.feed(_to_16k_mono(frame, resamplers))
    except MediaStreamError:
        floor.end(session, "closed")


def _to_16k_mono(frame: Any, resamplers: dict[int, StreamResampler]) -> bytes:
    """An audio frame of aiortc's decoder (s16 interleaved; planar or float handled too) as 16 kHz mono s16le."""
    x = frame.to_ndarray()
    channels = len(frame.layout.channels)
    scale = 32768.0 if x.dtype == np.int16 else 1.0
    if frame.format.is_planar:
        samples = x.astype(np.float32).mean(axis=0) / scale
    else:
        samples = x.astype(np.float32).reshape(-1, channels).mean(axis=1) / scale
    rs = resamplers.get(frame.sample_rate)
    if rs is None:
        rs = resamplers[frame.sample_rate] = StreamResampler(frame.sample_rate, 16000, quality="MQ")
    return float_to_pcm16(rs.process(samples))


class WebRtcSessions:
    """The peer connections of WebRTC sessions (at most one holds the floor)."""

    def __init__(self) -> None:
        self.connections: set[Any] = set()

    async def answer(self, offer: dict[str, Any], session: RemoteSession, floor: RemoteFloor) -> dict[str, str]:
        from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.connections.add(pc)
        tasks: list[asyncio.Task[None]] = []
        session.lead_seconds = JITTER_SECONDS

        @pc.on("track")  # type: ignore[misc]
        def on_track(track: Any) -> None:
            if track.kind == "audio":
                tasks.append(asyncio.create_task(_hear(track, session, floor), name=f"webrtc-{session.id}-hear"))

        @pc.on("connectionstatechange")  # type: ignore[misc]
        async def on_state() -> None:
            log.info("webrtc session #%d: connection %s", session.id, pc.connectionState)
            if pc.connectionState in ("failed", "closed"):
                floor.end(session, "closed" if pc.connectionState == "closed" else "connection failed")

        async def close_when_ended() -> None:
            await session.ended.wait()
            for t in tasks:
                t.cancel()
            with contextlib.suppress(Exception):
                await pc.close()
            self.connections.discard(pc)

        tasks.append(asyncio.create_task(close_when_ended(), name=f"webrtc-{session.id}-end"))
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer["sdp"], type=offer["type"]))
            pc.addTrack(_reply_track(session))
            await pc.setLocalDescription(await pc.createAnswer())  # gathers the host candidates
        except Exception:
            floor.end(session, "bad offer")
            raise
        return {"sdp": pc.localDescription.sdp, "type": pc.localDescription.type}

    async def close(self) -> None:
        for pc in list(self.connections):
            with contextlib.suppress(Exception):
                await pc.close()
        self.connections.clear()
