"""The speech-to-text processor: each utterance transcribed in the worker thread (ahead at pauses), and what
is not worth answering refused."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from typing import Protocol

from ...events.schema import Transcript, TurnAbandoned
from ...pipeline.frames import DataFrame, SpeculationFrame, TranscriptionFrame, TurnAbandonedFrame, UtteranceFrame
from ...pipeline.processor import FrameProcessor
from .hearing import Heard, judge

log = logging.getLogger(__name__)


class SttEngine(Protocol):
    """What the processor needs of a speech-to-text engine (WhisperEngine, WyomingSttEngine)."""

    def hear(self, pcm: bytes) -> Heard:
        """16 kHz mono s16le in, the transcript out (blocking: called in the worker thread)."""
        ...


class STTProcessor(FrameProcessor):
    """Transcribes each utterance; what is not worth answering ends the turn (``turn_abandoned``).

    At a pause the turn detector sends the utterance so far (``SpeculationFrame``): it is
    transcribed at once, in the background, and when the turn ends there the utterance is the
    same audio and its transcript is ready (or nearly). When the user spoke on, it is dropped.
    """

    def __init__(self, engine: SttEngine) -> None:
        super().__init__("stt")
        self.engine = engine
        self._ahead: tuple[int, bytes, asyncio.Future[Heard]] | None = None
        self.speculations = 0
        self.speculation_hits = 0

    def on_interrupted(self) -> None:
        self._ahead = None

    async def process_frame(self, frame: DataFrame) -> None:
        if isinstance(frame, SpeculationFrame):
            self.speculations += 1
            job = asyncio.ensure_future(self.run_blocking(self.engine.hear, frame.pcm))
            job.add_done_callback(lambda f: f.cancelled() or f.exception())  # never "exception never retrieved"
            self._ahead = (frame.turn, frame.pcm, job)
            return
        if not isinstance(frame, UtteranceFrame):
            await self.push_frame(frame)
            return
        started = time.perf_counter()
        ahead, self._ahead = self._ahead, None
        if ahead is not None and ahead[0] == frame.turn and ahead[1] == frame.pcm:
            self.speculation_hits += 1
            heard = await ahead[2]
        else:
            heard = await self.run_blocking(self.engine.hear, frame.pcm)
        stt_ms = (time.perf_counter() - started) * 1000
        heard = dataclasses.replace(heard, speech_seconds=frame.speech_seconds)
        audio_s = len(frame.pcm) / 2 / frame.sample_rate
        refused = judge(heard)
        if refused is not None:
            log.info("turn %d: not a request (%s): %r", frame.turn, refused, heard.text)
            self.events.publish(TurnAbandoned(
                turn=frame.turn, reason="not_understood", detail=refused,
                heard=heard.text, stt_ms=round(stt_ms, 1), audio_seconds=round(audio_s, 2),
            ))
            await self.push_frame(TurnAbandonedFrame(frame.turn, "not_understood"))
            return
        self.events.publish(Transcript(
            turn=frame.turn, text=heard.text, stt_ms=round(stt_ms, 1), audio_seconds=round(audio_s, 2),
            engine=heard.engine or "whisper",
        ))
        await self.push_frame(TranscriptionFrame(frame.turn, heard.text))
