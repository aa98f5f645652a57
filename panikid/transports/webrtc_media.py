"""WebRTC media for a remote session (aiortc and PyAV, the ``webrtc`` extra): the track that sends the
session's replies, 20 ms frames at 48 kHz paced in real time, and the loop that hears the browser's track,
mixed to mono and resampled to 16 kHz into the session. Signalling is in panikid.control.web.webrtc."""

from __future__ import annotations

import asyncio
import fractions
import time
from typing import Any

import numpy as np

from ..audio.convert import StreamResampler, float_to_pcm16
from .remote import RemoteFloor, RemoteSession

RTC_RATE = 48000
FRAME_SAMPLES = RTC_RATE // 50  # 20 ms


def reply_track(session: RemoteSession) -> Any:
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


async def hear(track: Any, session: RemoteSession, floor: RemoteFloor) -> None:
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
