"""Text to speech on a Wyoming server (``tts.engine = "wyoming"``), with the local piper voice as its fallback.

The pipeline hands the engine one sentence at a time. The first exchange asks the server what it offers
(``describe`` -> ``info``): a server whose TTS program ``supports_synthesize_streaming`` gets the sentence as a
text stream (``synthesize-start``, ``synthesize-chunk``, ``synthesize`` for older servers, ``synthesize-stop``,
answered up to ``synthesize-stopped``), any other one ``synthesize`` (answered up to ``audio-stop``).

The playback rate is fixed when the output opens, at the local voice's rate, so this engine declares that
rate and converts what the server sends (any rate, width and channels) to mono s16le at it.

Failures: a server that refuses the connection, answers with an error, sends no audio within
``tts.remote_timeout_seconds`` (counted from the connection) or none at all for words is given up, and the
local voice speaks the sentence; so is one that stops mid-sentence (closes the connection, or is silent for
the deadline between two chunks). A sentence is played once it is whole, so nothing of a broken remote
sentence has been heard: the whole sentence is spoken again by the local voice. Either way a warning names
the server, and it is skipped for a while (``panikid.speech.remote``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator

from wyoming.audio import AudioChunk, AudioChunkConverter, AudioStart, AudioStop
from wyoming.info import Describe, Info
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop, SynthesizeStopped, SynthesizeVoice

from ...audio.convert import resample_pcm16
from ...config import Config, tcp_uri
from ..remote import REMOTE, RemotePolicy
from ..wyoming_client import Connection, RemoteError, run
from .engine import TtsEngine, engine_name

log = logging.getLogger(__name__)


class WyomingTtsEngine:
    """A ``TtsEngine`` speaking through the server at ``host:port``, else through ``local``."""

    name = REMOTE

    def __init__(self, host: str, port: int, local: TtsEngine, timeout_seconds: float = 3.0, voice: str = "",
                 sample_rate: int | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.host, self.port = host, port
        self.uri = f"tcp://{host}:{port}"
        self.local = local
        self.local_name = engine_name(local)
        self.timeout_seconds = timeout_seconds
        self.voice = voice
        self.sample_rate = sample_rate or local.sample_rate
        self.clock = clock
        self.policy = RemotePolicy()
        self.streaming: bool | None = None
        """Whether the server takes a text stream: None until its info has been read."""
        self.remote_rate: int | None = None
        """The rate the server last sent audio at."""

    # ------------------------------------------------------------------ the TtsEngine protocol
    def synthesize(self, text: str) -> Iterator[bytes]:
        """One chunk: the whole sentence (from the server, or the local voice)."""
        pcm, _ = self.speak(text)
        if pcm:
            yield pcm

    def synthesize_all(self, text: str) -> bytes:
        return self.speak(text)[0]

    def speak(self, text: str) -> tuple[bytes, str]:
        """The sentence as mono s16le at ``sample_rate``, and the engine that spoke it (blocking)."""
        if self.policy.use_remote(self.clock()):
            try:
                pcm = run(self._synthesize(text))
            except RemoteError as exc:
                self.streaming = None  # a server that comes back may be another one: ask it again
                wait = self.policy.record_failure(self.clock())
                log.warning("tts.uri %s failed (%s); the local voice speaks %r, the server is skipped for %.0f s",
                            self.uri, exc, text[:60], wait)
            else:
                self.policy.record_success(self.clock())
                return pcm, REMOTE
        return self.local.synthesize_all(text), self.local_name

    def warm_up(self) -> None:
        """Run the local voice once (it is the fallback) and the server once: it loads its voice at the first
        request (blocking)."""
        self.local.synthesize_all("Ready.")
        self.speak("Ready.")

    # ------------------------------------------------------------------ the exchange
    async def _synthesize(self, text: str) -> bytes:
        started = self.clock()  # the first audio's deadline counts the connection too
        async with Connection(self.host, self.port, self.timeout_seconds) as server:
            if self.streaming is None:
                await server.send(Describe())
                self.streaming = await self._read_info(server, started + self.timeout_seconds)
            voice = SynthesizeVoice(name=self.voice) if self.voice else None
            if self.streaming:
                await server.send(SynthesizeStart(voice=voice))
                await server.send(SynthesizeChunk(text=text))
                await server.send(Synthesize(text=text, voice=voice))  # for servers that ignore the stream
                await server.send(SynthesizeStop())
            else:
                await server.send(Synthesize(text=text, voice=voice))
            pcm = await self._read_audio(server, started + self.timeout_seconds)
        if not pcm and any(c.isalnum() for c in text):
            # A voice that cannot say the text (a phonemizer missing on the server) answers with silence.
            raise RemoteError("no_audio", f"{self.uri} sent no audio for {text[:40]!r}")
        return pcm

    async def _read_info(self, server: Connection, deadline: float) -> bool:
        while True:
            event = await server.receive(deadline - self.clock(), "info")
            if Info.is_type(event.type):
                programs = Info.from_event(event).tts
                if not programs:
                    raise RemoteError("not_tts", f"{self.uri} offers no text-to-speech")
                return bool(programs[0].supports_synthesize_streaming)  # the program a server uses

    async def _read_audio(self, server: Connection, first_by: float) -> bytes:
        """The server's audio until the end of the sentence, as mono s16le at ``sample_rate``."""
        convert = AudioChunkConverter(width=2, channels=1)
        pieces: list[bytes] = []
        rate: int | None = None
        while True:
            waited = first_by - self.clock() if not pieces else self.timeout_seconds
            event = await server.receive(waited, "audio" if not pieces else "rest of the sentence")
            if AudioChunk.is_type(event.type):
                chunk = convert.convert(AudioChunk.from_event(event))
                if rate is not None and chunk.rate != rate:
                    raise RemoteError("protocol", f"{self.uri} changed its rate mid-sentence ({rate}, {chunk.rate})")
                rate = chunk.rate
                pieces.append(chunk.audio)
            elif AudioStart.is_type(event.type) or (AudioStop.is_type(event.type) and self.streaming):
                continue  # a stream may hold several sentences, each with its start and stop
            elif AudioStop.is_type(event.type) or SynthesizeStopped.is_type(event.type):
                break
        pcm = b"".join(pieces)
        if rate is None or not pcm:
            return b""
        self.remote_rate = rate
        return resample_pcm16(pcm, rate, self.sample_rate)


def load(cfg: Config) -> WyomingTtsEngine:
    """The server ``tts.uri`` names, with the piper voice ``tts.voice`` as its fallback (loaded now)."""
    from . import piper

    host, port = tcp_uri("tts.uri", cfg.tts.uri)
    return WyomingTtsEngine(host, port, piper.load(cfg), cfg.tts.remote_timeout_seconds, cfg.tts.remote_voice)
