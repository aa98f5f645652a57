"""Speech to text with faster-whisper (CTranslate2), entirely in a worker thread.

faster-whisper's ``transcribe`` returns a *lazy* generator: the decoding happens
while it is iterated, so the iteration happens inside the worker thread too.
"""

from __future__ import annotations

import logging
import os
import re
import time
from pathlib import Path

import numpy as np

from . import events as ev
from .frames import DataFrame, TranscriptionFrame, TurnAbandonedFrame, UtteranceFrame
from .processor import FrameProcessor

log = logging.getLogger(__name__)

# Whisper's way of saying "nothing intelligible": not a request.
_NOISE = re.compile(r"\[[^\]]*\]|\([^)]*\)|♪")


class WhisperEngine:
    def __init__(
        self,
        model_dir: Path,
        language: str = "en",
        beam_size: int = 1,
        compute_type: str = "int8",
        threads: int = 0,
    ) -> None:
        from faster_whisper import WhisperModel

        self.language = language
        self.beam_size = beam_size
        self.model = WhisperModel(
            str(model_dir),
            device="cpu",
            compute_type=compute_type,
            cpu_threads=threads or (os.cpu_count() or 1),
            local_files_only=True,
        )

    def transcribe(self, pcm: bytes) -> str:
        """16 kHz mono s16le in, text out (blocking: call from a worker thread)."""
        audio = np.frombuffer(pcm, dtype=np.int16).astype(np.float32) / 32768.0
        segments, _info = self.model.transcribe(
            audio,
            language=self.language,
            beam_size=self.beam_size,
            condition_on_previous_text=False,
            without_timestamps=True,
            vad_filter=False,
        )
        text = " ".join(s.text.strip() for s in segments)  # decoding happens here
        return clean_transcript(text)


def clean_transcript(text: str) -> str:
    text = _NOISE.sub(" ", text)
    return re.sub(r"\s+", " ", text).strip()


class STTProcessor(FrameProcessor):
    def __init__(self, engine: WhisperEngine) -> None:
        super().__init__("stt")
        self.engine = engine

    async def process_frame(self, frame: DataFrame) -> None:
        if not isinstance(frame, UtteranceFrame):
            await self.push_frame(frame)
            return
        started = time.perf_counter()
        text = await self.run_blocking(self.engine.transcribe, frame.pcm)
        stt_ms = (time.perf_counter() - started) * 1000
        audio_s = len(frame.pcm) / 2 / frame.sample_rate
        self.events.publish(
            ev.TRANSCRIPT, turn=frame.turn, text=text, stt_ms=round(stt_ms, 1),
            audio_seconds=round(audio_s, 2),
        )
        if not any(ch.isalnum() for ch in text):
            self.events.publish(ev.TURN_ABANDONED, turn=frame.turn, reason="nothing intelligible was said")
            await self.push_frame(TurnAbandonedFrame(frame.turn, "nothing intelligible was said"))
            return
        await self.push_frame(TranscriptionFrame(frame.turn, text))
