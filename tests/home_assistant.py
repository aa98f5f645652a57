"""Home Assistant's side of a Wyoming satellite, for tests: the ``wyoming`` package's own TCP client
doing what Home Assistant's Wyoming integration does (describe, run-satellite, answer pings, run the
Assist pipeline on the satellite's audio and send the reply back), on its own event loop in a thread
so a test can drive it step by step."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

from wyoming.asr import Transcribe, Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.error import Error
from wyoming.event import Event
from wyoming.info import Describe, Info
from wyoming.ping import Ping, Pong
from wyoming.satellite import PauseSatellite, RunSatellite
from wyoming.tts import Synthesize
from wyoming.vad import VoiceStarted, VoiceStopped


class HomeAssistant:
    """One connection to a satellite; every event it receives is kept, in order."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.received: list[Event] = []
        self._changed = threading.Condition()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.client: AsyncTcpClient | None = None
        self._reader: Any = None

    def _run(self, coro: Any, timeout: float = 30.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    # ------------------------------------------------------------------ connection
    def connect(self) -> None:
        async def go() -> None:
            self.client = AsyncTcpClient(self.host, self.port)
            await self.client.connect()
            self._reader = asyncio.ensure_future(self._read())
        self._run(go())

    async def _read(self) -> None:
        assert self.client is not None
        while (event := await self.client.read_event()) is not None:
            if Ping.is_type(event.type):  # as Home Assistant does
                await self.client.write_event(Pong(text=Ping.from_event(event).text).event())
            with self._changed:
                self.received.append(event)
                self._changed.notify_all()
        with self._changed:
            self.received.append(Event(type="_closed"))
            self._changed.notify_all()

    def send(self, *events: Event) -> None:
        async def go() -> None:
            assert self.client is not None
            for e in events:
                await self.client.write_event(e)
        self._run(go())

    def close(self) -> None:
        if not self.thread.is_alive():
            return

        async def go() -> None:
            if self.client is not None:
                await self.client.disconnect()
        try:
            self._run(go(), timeout=5)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(5)

    # ------------------------------------------------------------------ what came
    def wait(self, what: str | Callable[[Event], bool], timeout: float = 30.0, after: int = 0) -> tuple[int, Event]:
        """(index, event) of the first event of type ``what`` (or matching it) from index ``after`` on."""
        match = (lambda e: e.type == what) if isinstance(what, str) else what
        with self._changed:
            ok = self._changed.wait_for(
                lambda: any(match(e) or e.type == "_closed" for e in self.received[after:]), timeout)
            for i, e in enumerate(self.received[after:], after):
                if match(e):
                    return i, e
            seen = [e.type for e in self.received[after:]][-30:]
        raise AssertionError(f"no {what} from the satellite within {timeout}s (timed out: {not ok}); seen: {seen}")

    def audio_after(self, index: int, seconds: float, timeout: float = 30.0) -> bytes:
        """The microphone audio the satellite streamed from event ``index`` on, once there is ``seconds`` of
        it (or the satellite stopped streaming)."""
        def enough() -> bool:
            got = sum(len(e.payload or b"") for e in self.received[index:] if AudioChunk.is_type(e.type))
            stopped = any(AudioStop.is_type(e.type) or e.type == "_closed" for e in self.received[index:])
            return stopped or got >= seconds * 32000
        with self._changed:
            self._changed.wait_for(enough, timeout)
            return b"".join(e.payload or b"" for e in self.received[index:] if AudioChunk.is_type(e.type))

    # ------------------------------------------------------------------ Home Assistant's moves
    def describe(self) -> Info:
        n = len(self.received)
        self.send(Describe().event())
        return Info.from_event(self.wait("info", after=n)[1])

    def run_satellite(self) -> None:
        self.send(RunSatellite().event())

    def pause_satellite(self) -> None:
        self.send(PauseSatellite().event())

    def heard(self, text: str) -> None:
        """Home Assistant's speech-to-text: the voice started and stopped, and this is what it heard."""
        self.send(Transcribe(language="en").event(), VoiceStarted(timestamp=0).event(),
                  VoiceStopped(timestamp=1000).event(), Transcript(text=text).event())

    def say(self, text: str | None, pcm: bytes, rate: int, chunk_bytes: int = 2048) -> None:
        """Home Assistant's text-to-speech: the reply's text (None: an announcement, no text) and its audio."""
        events = [Synthesize(text=text).event()] if text is not None else []
        events.append(AudioStart(rate=rate, width=2, channels=1, timestamp=0).event())
        events += [AudioChunk(rate=rate, width=2, channels=1, audio=pcm[i:i + chunk_bytes]).event()
                   for i in range(0, len(pcm), chunk_bytes)]
        events.append(AudioStop().event())
        self.send(*events)

    def error(self, text: str, code: str) -> None:
        self.send(Error(text=text, code=code).event())
