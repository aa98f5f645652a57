"""The text-to-speech processors: the sentence aggregator (each sentence released as soon as it is
complete) and piper, one sentence at a time, in the worker thread."""

from __future__ import annotations

import time

from ...events.schema import TtsStarted, TurnAbandoned
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
from ...text.sentences import SentenceSplitter
from .engine import TtsEngine, speak


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
                    self.events.publish(TurnAbandoned(turn=frame.turn, reason="empty_reply",
                                                      detail="the reply was empty"))
                    await self.push_frame(TurnAbandonedFrame(frame.turn, "empty_reply"))
            return
        await self.push_frame(frame)


class TTSProcessor(FrameProcessor):
    def __init__(self, engine: TtsEngine) -> None:
        super().__init__("tts")
        self.engine = engine
        self._first_of_turn: set[int] = set()

    async def process_frame(self, frame: DataFrame) -> None:
        if not isinstance(frame, TTSSpeakFrame):
            await self.push_frame(frame)
            return
        if frame.text:
            started = time.perf_counter()
            pcm, engine = await self.run_blocking(speak, self.engine, frame.text)
            if frame.turn not in self._first_of_turn:
                self._first_of_turn.add(frame.turn)
                self.events.publish(TtsStarted(
                    turn=frame.turn, tts_ttfb_ms=round((time.perf_counter() - started) * 1000, 1), engine=engine,
                ))
            if pcm:
                await self.push_frame(OutputAudioFrame(frame.turn, pcm, self.engine.sample_rate, frame.text))
        if frame.last:
            self._first_of_turn.discard(frame.turn)
            await self.push_frame(TTSStoppedFrame(frame.turn))
