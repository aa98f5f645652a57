"""Remote audio sessions: a browser (or any program) as the microphone and speaker, one at a time.

The one assistant has one conversation at a time. A remote session (the WebSocket audio endpoint or a
WebRTC peer, :mod:`panikid.control.web.audio`) *takes the floor*: while it holds it, the pipeline hears
the session's audio instead of the local microphone, and replies and cues play to the session instead of
the local speaker. A second session is refused (``FloorBusy``) until the first ends. When a session
ends (closed, or no audio from it for ``deadline`` seconds: a tab closed, a phone gone off the network;
up to ``FIRST_AUDIO_SECONDS`` before its first audio),
the floor returns to the local microphone and the turn it was in is cut.

The input's clock stays local (the microphone, or real-time silence without one): at each block the
floor input takes as much audio from the session's ``JitterBuffer`` (padded with silence when the network
is late, the oldest dropped when it bunches up). Replies go into the session's ``PlaybackQueue``, which the
session's sender empties at playback pace (a paced WebSocket loop, or the WebRTC track's ``recv``).

Everything here is plain logic on the event loop; the network is elsewhere.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

_ids = itertools.count(1)

FIRST_AUDIO_SECONDS = 10.0
"""How long a new session may take to send its first audio (ICE and DTLS on a slow board)."""


class FloorBusy(Exception):
    """Another remote session holds the floor."""


class JitterBuffer:
    """Audio that arrived from the network, taken out by the input's clock (bytes of s16le)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._data = bytearray()
        self.dropped_bytes = 0
        self.padded_bytes = 0

    def __len__(self) -> int:
        return len(self._data)

    def feed(self, pcm: bytes) -> None:
        self._data += pcm
        over = len(self._data) - self.max_bytes
        if over > 0:
            over += over % 2  # whole samples
            del self._data[:over]
            self.dropped_bytes += over

    def take(self, nbytes: int) -> bytes:
        out = bytes(self._data[:nbytes])
        del self._data[:nbytes]
        if len(out) < nbytes:
            self.padded_bytes += nbytes - len(out)
            out += bytes(nbytes - len(out))
        return out


class PlaybackQueue:
    """Reply audio waiting to be sent, at the session's own rate; ``pull`` empties it at playback pace."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._data = bytearray()
        self._empty = asyncio.Event()
        self._empty.set()
        self._room = asyncio.Event()
        self._room.set()
        self.generation = 0
        """Counts ``clear`` calls: a sender that sees it change tells its peer to drop what it holds."""

    @property
    def level(self) -> int:
        return len(self._data)

    async def put(self, pcm: bytes) -> None:
        """Queue audio; waits while the queue is full (as a speaker's buffer does)."""
        self._data += pcm
        self._empty.clear()
        while len(self._data) > self.max_bytes:
            self._room.clear()
            await self._room.wait()

    def pull(self, nbytes: int) -> bytes | None:
        """Up to ``nbytes`` of audio, or None when nothing is queued."""
        if not self._data:
            return None
        out = bytes(self._data[:nbytes])
        del self._data[:nbytes]
        if len(self._data) <= self.max_bytes:
            self._room.set()
        if not self._data:
            self._empty.set()
        return out

    def clear(self) -> None:
        self._data.clear()
        self.generation += 1
        self._empty.set()
        self._room.set()

    async def wait_empty(self, timeout: float) -> bool:
        try:
            async with asyncio.timeout(timeout):
                await self._empty.wait()
            return True
        except TimeoutError:
            return False


@dataclass
class SessionInfo:
    id: int
    kind: str
    peer: str


class RemoteSession:
    """One remote microphone and speaker. ``feed`` what it hears (16 kHz mono s16le); it plays what its
    ``playback`` holds (s16le mono at ``out_rate``)."""

    def __init__(self, kind: str, peer: str, out_rate: int, deadline: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.info = SessionInfo(next(_ids), kind, peer)
        self.out_rate = out_rate
        self.deadline = deadline
        self.clock = clock
        self.inbound = JitterBuffer(max_bytes=16000)  # 0.5 s of 16 kHz s16le
        self.playback = PlaybackQueue(max_bytes=out_rate * 2)  # 1 s ahead at most
        self.started = clock()
        self.last_audio = self.started
        self.bytes_in = 0
        self.ended = asyncio.Event()
        self.end_reason = ""
        self.lead_seconds = 0.0
        """How much audio the peer still holds after the last sample was sent (its own buffer)."""

    @property
    def id(self) -> int:
        return self.info.id

    def feed(self, pcm16k: bytes) -> None:
        if self.ended.is_set():
            return
        self.last_audio = self.clock()
        self.bytes_in += len(pcm16k)
        self.inbound.feed(pcm16k)

    def silent_for(self) -> float:
        return self.clock() - self.last_audio

    def expired(self) -> bool:
        """No audio for ``deadline`` seconds; before the first audio, ``FIRST_AUDIO_SECONDS`` at least
        (a WebRTC connection is still being set up)."""
        limit = self.deadline if self.bytes_in else max(self.deadline, FIRST_AUDIO_SECONDS)
        return self.silent_for() > limit


class RemoteFloor:
    """Who the assistant hears and speaks to: the local microphone, or the one remote session."""

    def __init__(self, deadline: float, on_start: Callable[[RemoteSession], None] | None = None,
                 on_end: Callable[[RemoteSession], None] | None = None) -> None:
        self.deadline = deadline
        self.session: RemoteSession | None = None
        self.on_start = on_start
        self.on_end = on_end
        self.served = 0

    def open(self, kind: str, peer: str, out_rate: int) -> RemoteSession:
        """Take the floor for a new session; ``FloorBusy`` while another one holds it."""
        current = self.session
        if current is not None and not current.ended.is_set():
            raise FloorBusy(f"another {current.info.kind} session (#{current.id} from {current.info.peer}) "
                            "holds the floor; one conversation at a time")
        session = RemoteSession(kind, peer, out_rate, self.deadline)
        self.session = session
        self.served += 1
        log.info("remote %s session #%d from %s takes the floor", kind, session.id, peer)
        if self.on_start is not None:
            self.on_start(session)
        return session

    def end(self, session: RemoteSession, reason: str) -> None:
        """The session is over (idempotent): the floor returns to the local microphone."""
        if session.ended.is_set():
            return
        session.end_reason = reason
        session.ended.set()
        session.playback.clear()
        if self.session is session:
            self.session = None
        log.info("remote %s session #%d ended (%s) after %.1f s", session.info.kind, session.id, reason,
                 session.clock() - session.started)
        if self.on_end is not None:
            self.on_end(session)

    def active(self) -> RemoteSession | None:
        """The session holding the floor; one that went silent past its deadline is ended here."""
        s = self.session
        if s is not None and s.expired():
            self.end(s, f"no audio for {s.deadline:g} s")
            return None
        return s
