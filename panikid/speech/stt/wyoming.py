"""Speech to text on a Wyoming server (``stt.engine = "wyoming"``), with the local Whisper model as its fallback.

Each utterance goes to the server on a connection of its own: ``transcribe`` (the language), then the audio
(``audio-start``, ``audio-chunk``s, ``audio-stop``: 16 kHz mono s16le, as the turn detector cut it), and the
server answers with a ``transcript``. A server that refuses the connection, closes it, answers with an error
or has not sent the transcript within ``stt.remote_timeout_seconds`` is given up: the local model transcribes
the utterance, a warning names the server, and the server is skipped for a while (``panikid.speech.remote``),
so a dead server costs one deadline, not one per turn. ``Heard.engine`` says which engine answered.

A Wyoming transcript carries no confidence figures, so the judge of what is worth answering
(``hearing.judge``) decides a remote transcript on its words and the speech VAD heard alone.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable

from wyoming.asr import Transcribe, Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop

from ..remote import REMOTE, RemotePolicy
from ..wyoming_client import Connection, RemoteError, run
from .hearing import Heard
from .whisper import RECORDING_EDGE_SECONDS, WhisperEngine, clean_transcript

log = logging.getLogger(__name__)

RATE, WIDTH, CHANNELS = 16000, 2, 1
CHUNK_BYTES = RATE * WIDTH // 2
"""Half a second of audio per ``audio-chunk``."""
LOCAL = "whisper"


class WyomingSttEngine:
    """``hear(pcm) -> Heard`` on the server at ``host:port``, else on ``local``."""

    name = REMOTE

    def __init__(self, host: str, port: int, local: WhisperEngine, language: str = "en",
                 timeout_seconds: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.host, self.port = host, port
        self.uri = f"tcp://{host}:{port}"
        self.local = local
        self.language = language
        self.timeout_seconds = timeout_seconds
        self.clock = clock
        self.policy = RemotePolicy()

    def hear(self, pcm: bytes, beam_size: int | None = None) -> Heard:
        """The server's transcript, or the local model's when the server fails or is being skipped (blocking)."""
        if self.policy.use_remote(self.clock()):
            try:
                text = run(self._transcribe(pcm))
            except RemoteError as exc:
                wait = self.policy.record_failure(self.clock())
                log.warning("stt.uri %s failed (%s); the local model answers, the server is skipped for %.0f s",
                            self.uri, exc, wait)
            else:
                self.policy.record_success(self.clock())
                return Heard(clean_transcript(text), engine=REMOTE)
        return dataclasses.replace(self.local.hear(pcm, beam_size), engine=LOCAL)

    def transcribe(self, pcm: bytes, beam_size: int | None = None) -> str:
        return self.hear(pcm, beam_size).text

    def transcribe_recording(self, pcm: bytes, beam_size: int = 5) -> str:
        """A whole recording, with half a second of silence on each side (a server, too, tends to lose a word
        right at an edge); the server decodes it as it is configured to (``beam_size`` is the local one's)."""
        if self.policy.use_remote(self.clock()):
            pad = bytes(2 * int(RECORDING_EDGE_SECONDS * RATE))
            return self.hear(pad + pcm + pad, beam_size).text
        return self.local.transcribe_recording(pcm, beam_size)

    def warm_up(self) -> None:
        """Run the local model once (it is the fallback) and ask the server once (blocking)."""
        self.local.transcribe(bytes(RATE * WIDTH))
        self.hear(bytes(RATE * WIDTH))

    async def _transcribe(self, pcm: bytes) -> str:
        deadline = self.clock() + self.timeout_seconds
        try:
            async with asyncio.timeout(self.timeout_seconds):  # writes too: a hung server stops reading
                return await self._exchange(pcm, deadline)
        except TimeoutError:
            raise RemoteError("timeout", f"no transcript from {self.uri} within {self.timeout_seconds:.1f} s") \
                from None

    async def _exchange(self, pcm: bytes, deadline: float) -> str:
        async with Connection(self.host, self.port, self.timeout_seconds) as server:
            await server.send(Transcribe(language=self.language))
            await server.send(AudioStart(rate=RATE, width=WIDTH, channels=CHANNELS))
            for at in range(0, len(pcm), CHUNK_BYTES):
                await server.send(AudioChunk(rate=RATE, width=WIDTH, channels=CHANNELS,
                                             audio=pcm[at:at + CHUNK_BYTES]))
            await server.send(AudioStop())
            while True:  # a streaming server sends transcript-start/chunk/stop first: the transcript ends it
                event = await server.receive(deadline - self.clock(), "transcript")
                if Transcript.is_type(event.type):
                    return Transcript.from_event(event).text
