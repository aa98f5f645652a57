"""The satellite's TCP server and Home Assistant's connections to it.

Home Assistant keeps one connection open and starts the satellite on it (``run-satellite``); it may open
others meanwhile (its config flow asks ``describe`` on a short-lived one). Every connection is answered
(``describe``, ``ping``); the one that ran ``run-satellite`` last is the *running* one: wake words go to it,
and what it sends (transcripts, replies, audio, errors) goes to the :class:`SatelliteHandler`.

What is sent goes through a bounded queue per connection, written by the connection's own task, so a slow
or stuck peer never holds up the audio: a peer that falls this far behind is dropped (it reconnects).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Protocol

from wyoming.asr import Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.error import Error as WyomingError
from wyoming.event import Event, async_write_event
from wyoming.info import Describe, Info
from wyoming.ping import Ping, Pong
from wyoming.satellite import PauseSatellite, RunSatellite
from wyoming.timer import TimerCancelled, TimerFinished, TimerStarted, TimerUpdated
from wyoming.tts import Synthesize
from wyoming.vad import VoiceStopped

from ..events.codec import EventBody
from ..events.satellite import SatelliteStatus
from .peers import PeerPolicy
from .wire import MAX_HEADER, WireError, read_event

log = logging.getLogger(__name__)

OUTBOX = 512
"""Events queued for one peer (about 15 s of microphone audio) before it counts as stuck."""


class SatelliteHandler(Protocol):
    """What the running connection's events become (the satellite's pipeline stage)."""

    def on_run(self, peer: str) -> None: ...
    def on_pause(self, reason: str) -> None: ...
    def on_voice_stopped(self) -> None: ...
    def on_transcript(self, text: str) -> None: ...
    def on_synthesize(self, text: str) -> None: ...
    def on_audio_start(self, rate: int, width: int, channels: int) -> None: ...
    def on_audio_chunk(self, chunk: AudioChunk) -> None: ...
    def on_audio_stop(self) -> None: ...
    def on_error(self, text: str, code: str | None) -> None: ...
    def on_timer(self, status: str, id: str, seconds: int | None, name: str | None) -> None: ...


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: str) -> None:
        self.reader, self.writer, self.peer = reader, writer, peer
        self.outbox: asyncio.Queue[Event | None] = asyncio.Queue(OUTBOX)
        self.writer_task: asyncio.Task[None] | None = None

    async def write_all(self) -> None:
        while (event := await self.outbox.get()) is not None:
            await async_write_event(event, self.writer)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


class SatelliteLink:
    def __init__(self, host: str, port: int, policy: PeerPolicy, info: Callable[[], Info],
                 publish: Callable[[EventBody], object]) -> None:
        self.host, self.port = host, port
        self.policy = policy
        self.info = info
        self.publish = publish
        self.handler: SatelliteHandler | None = None
        self._server: asyncio.Server | None = None
        self._connections: set[_Connection] = set()
        self._running: _Connection | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def active(self) -> bool:
        """Home Assistant is connected and has started the satellite."""
        return self._running is not None

    @property
    def peer(self) -> str:
        return self._running.peer if self._running is not None else ""

    @property
    def bound_port(self) -> int:
        """The port listened on (the configured one, or the one the system chose for port 0)."""
        if self._server is None or not self._server.sockets:
            return self.port
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self, handler: SatelliteHandler) -> None:
        """Listen; OSError (with the address in its message) when the address cannot be had."""
        self.handler = handler
        try:
            self._server = await asyncio.start_server(self._accept, self.host, self.port, limit=MAX_HEADER)
        except OSError as exc:
            raise OSError(exc.errno, f"satellite: cannot listen on {self.host}:{self.port} "
                                     f"(satellite.host, satellite.port): {exc.strerror or exc}") from exc
        log.info("satellite: listening on %s:%d", self.host, self.bound_port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for conn in list(self._connections):
            conn.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=2.0)
        self._server = None

    def send(self, *events: Event) -> bool:
        """Queue events for the running connection; False when there is none (or it had to be dropped)."""
        conn = self._running
        if conn is None:
            return False
        try:
            for event in events:
                conn.outbox.put_nowait(event)
        except asyncio.QueueFull:
            log.warning("satellite: %s fell %d events behind; dropping the connection", conn.peer, OUTBOX)
            self._lose_running("the peer fell too far behind")
            conn.close()
            return False
        return True

    # ------------------------------------------------------------------ connections
    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        name = writer.get_extra_info("peername") or ("?", 0)
        host, port = str(name[0]), int(name[1])
        peer = f"{host}:{port}"
        refusal = self.policy.refusal(host)
        if refusal is not None:
            log.warning("satellite: refused a connection from %s: %s", peer, refusal)
            self.publish(SatelliteStatus(status="refused", peer=peer, reason=refusal))
            writer.close()
            return
        conn = _Connection(reader, writer, peer)
        conn.writer_task = asyncio.create_task(self._write(conn))
        self._connections.add(conn)
        self.publish(SatelliteStatus(status="connected", peer=peer))
        reason = "closed by the peer"
        try:
            while (event := await read_event(reader)) is not None:
                self._dispatch(conn, event)
        except WireError as exc:
            reason = f"not the Wyoming protocol: {exc}"
            log.warning("satellite: %s sent %s; closing the connection", peer, reason)
        except (ConnectionError, OSError) as exc:
            reason = f"connection lost: {exc}"
        except asyncio.CancelledError:
            reason = "panikid stopped"
            raise
        finally:
            self._connections.discard(conn)
            if conn is self._running:
                self._lose_running(reason)
            if conn.writer_task is not None:
                conn.writer_task.cancel()
            conn.close()
            self.publish(SatelliteStatus(status="disconnected", peer=peer, reason=reason))

    async def _write(self, conn: _Connection) -> None:
        try:
            await conn.write_all()
        except (ConnectionError, OSError) as exc:
            log.info("satellite: cannot write to %s: %s", conn.peer, exc)
            conn.close()

    def _lose_running(self, reason: str) -> None:
        self._running = None
        if self.handler is not None:
            self.handler.on_pause(reason)

    def _reply(self, conn: _Connection, event: Event) -> None:
        with contextlib.suppress(asyncio.QueueFull):
            conn.outbox.put_nowait(event)

    def _dispatch(self, conn: _Connection, event: Event) -> None:
        kind = event.type
        if Describe.is_type(kind):
            self._reply(conn, self.info().event())
        elif Ping.is_type(kind):
            self._reply(conn, Pong(text=Ping.from_event(event).text).event())
        elif RunSatellite.is_type(kind):
            if self._running is not None and self._running is not conn:
                self._lose_running(f"{conn.peer} started the satellite")
            self._running = conn
            self.publish(SatelliteStatus(status="running", peer=conn.peer))
            if self.handler is not None:
                self.handler.on_run(conn.peer)
        elif PauseSatellite.is_type(kind):
            if conn is self._running:
                self._lose_running("paused by Home Assistant")
                self.publish(SatelliteStatus(status="paused", peer=conn.peer))
        elif conn is not self._running or self.handler is None:
            log.debug("satellite: %s from %s, which has not started the satellite: ignored", kind, conn.peer)
        else:
            self._to_handler(self.handler, event)

    def _to_handler(self, handler: SatelliteHandler, event: Event) -> None:
        kind = event.type
        try:
            if Transcript.is_type(kind):
                handler.on_transcript(Transcript.from_event(event).text or "")
            elif VoiceStopped.is_type(kind):
                handler.on_voice_stopped()
            elif Synthesize.is_type(kind):
                handler.on_synthesize(Synthesize.from_event(event).text or "")
            elif AudioStart.is_type(kind):
                start = AudioStart.from_event(event)
                handler.on_audio_start(start.rate, start.width, start.channels)
            elif AudioChunk.is_type(kind):
                handler.on_audio_chunk(AudioChunk.from_event(event))
            elif AudioStop.is_type(kind):
                handler.on_audio_stop()
            elif WyomingError.is_type(kind):
                err = WyomingError.from_event(event)
                handler.on_error(err.text or "", err.code)
            elif TimerStarted.is_type(kind):
                started = TimerStarted.from_event(event)
                handler.on_timer("started", str(started.id), int(started.total_seconds), started.name)
            elif TimerUpdated.is_type(kind):
                updated = TimerUpdated.from_event(event)
                handler.on_timer("updated", str(updated.id), int(updated.total_seconds), None)
            elif TimerCancelled.is_type(kind):
                handler.on_timer("cancelled", str(TimerCancelled.from_event(event).id), None, None)
            elif TimerFinished.is_type(kind):
                handler.on_timer("finished", str(TimerFinished.from_event(event).id), None, None)
            else:
                log.debug("satellite: %s from Home Assistant", kind)
        except (KeyError, TypeError, ValueError) as exc:
            log.warning("satellite: a malformed %s event from %s (%s): ignored", kind, self.peer, exc)
