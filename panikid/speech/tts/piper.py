"""Text to speech with piper, one sentence at a time, and the sentence aggregator.

The aggregator releases each sentence of the streamed reply as soon as it is
complete, so the first sentence is spoken while the LLM is still writing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

from ... import events as ev
from ...pipeline.frames import (
    DataFrame,
    LLMResponseEndFrame,
    LLMResponseStartFrame,
    LLMTextFrame,
    OutputAudioFrame,
    TTSSpeakFrame,
    TTSStoppedFrame,
    TurnAbandonedFrame,
)
from ...pipeline.processor import FrameProcessor
from .sentences import SentenceSplitter

log = logging.getLogger(__name__)

TTS_STARTED = "tts_started"


class PiperEngine:
    def __init__(self, model_path: Path, length_scale: float = 1.0, speaker_id: int = 0) -> None:
        import json

        import onnxruntime
        from piper import PiperVoice, SynthesisConfig
        from piper.config import PiperConfig

        config_path = Path(f"{model_path}.json")
        if not config_path.is_file():
            raise FileNotFoundError(f"tts.voice: {config_path} (the voice's config) does not exist")
        # Without onnxruntime's memory arena, memory used by a long sentence is
        # given back afterwards instead of being kept for good (~100 MB here).
        opts = onnxruntime.SessionOptions()
        opts.enable_cpu_mem_arena = False
        opts.log_severity_level = 3
        session = onnxruntime.InferenceSession(
            str(model_path), sess_options=opts, providers=["CPUExecutionProvider"]
        )
        with open(config_path, encoding="utf-8") as f:
            self.voice = PiperVoice(config=PiperConfig.from_dict(json.load(f)), session=session)
        self.sample_rate = int(self.voice.config.sample_rate)
        multi = self.voice.config.num_speakers > 1
        self.syn_config = SynthesisConfig(
            length_scale=length_scale, speaker_id=speaker_id if multi else None
        )

    def synthesize(self, text: str) -> Iterator[bytes]:
        """Yield s16le mono audio chunks at ``sample_rate`` (blocking)."""
        for chunk in self.voice.synthesize(text, self.syn_config):
            yield chunk.audio_int16_bytes

    def synthesize_all(self, text: str) -> bytes:
        return b"".join(self.synthesize(text))


class SentenceAggregator(FrameProcessor):
    """LLM text pieces in, one TTSSpeakFrame per sentence out."""

    def __init__(self) -> None:
        super().__init__("sentences")
        self._splitter = SentenceSplitter()
        self._sent = 0

    def on_interrupted(self) -> None:
        self._splitter = SentenceSplitter()
        self._sent = 0

    async def process_frame(self, frame: DataFrame) -> None:
        if isinstance(frame, LLMResponseStartFrame):
            self._splitter = SentenceSplitter()
            self._sent = 0
        elif isinstance(frame, LLMTextFrame):
            for sentence in self._splitter.push(frame.text):
                self._sent += 1
                await self.push_frame(TTSSpeakFrame(frame.turn, sentence))
            return
        elif isinstance(frame, LLMResponseEndFrame):
            rest = self._splitter.flush()
            for i, sentence in enumerate(rest):
                self._sent += 1
                await self.push_frame(TTSSpeakFrame(frame.turn, sentence, last=i == len(rest) - 1))
            if not rest:
                if self._sent:
                    await self.push_frame(TTSSpeakFrame(frame.turn, "", last=True))
                else:
                    self.events.publish(ev.TURN_ABANDONED, turn=frame.turn, reason="empty_reply",
                                        detail="the reply was empty")
                    await self.push_frame(TurnAbandonedFrame(frame.turn, "empty_reply"))
            return
        await self.push_frame(frame)


class TTSProcessor(FrameProcessor):
    def __init__(self, engine: PiperEngine) -> None:
        super().__init__("tts")
        self.engine = engine
        self._first_of_turn: set[int] = set()

    async def process_frame(self, frame: DataFrame) -> None:
        if not isinstance(frame, TTSSpeakFrame):
            await self.push_frame(frame)
            return
        if frame.text:
            started = time.perf_counter()
            pcm = await self.run_blocking(self.engine.synthesize_all, frame.text)
            if frame.turn not in self._first_of_turn:
                self._first_of_turn.add(frame.turn)
                self.events.publish(
                    TTS_STARTED, turn=frame.turn,
                    tts_ttfb_ms=round((time.perf_counter() - started) * 1000, 1),
                )
            if pcm:
                await self.push_frame(OutputAudioFrame(frame.turn, pcm, self.engine.sample_rate, frame.text))
        if frame.last:
            self._first_of_turn.discard(frame.turn)
            await self.push_frame(TTSStoppedFrame(frame.turn))
