"""Wake word: a pure detector (threshold, cooldown) and its processor.

Engines cross the threshold a little *after* the wake phrase ended (the model
averages its last few evaluations). The detection is placed at the first
crossing, and the turn detector starts the user's utterance ``pre_roll_seconds``
before it, so a command spoken straight after the wake word is kept whole.
"""

from __future__ import annotations

import asyncio
import logging
import time

from ... import events as ev
from ...pipeline.frames import (
    SAMPLE_RATE,
    DataFrame,
    InputAudioFrame,
    InterruptionFrame,
    MuteFrame,
    SystemFrame,
    WakeWordFrame,
)
from ...pipeline.processor import FrameProcessor
from .detector import Detection, WakeDetector
from .engines import Score, WakeEngine

log = logging.getLogger(__name__)


class WakeWordProcessor(FrameProcessor):
    """Listens to InputAudioFrames (passed on unchanged) and emits WakeWordFrames.

    A detection first sends an InterruptionFrame (a wake word barges in on a reply
    in progress), then the WakeWordFrame.
    """

    def __init__(self, engines: list[WakeEngine], threshold: float = 0.0, cooldown_seconds: float = 2.0) -> None:
        super().__init__("wake")
        if not engines:
            raise ValueError("at least one wake word engine is needed")
        self.engines = engines
        chosen = threshold if threshold > 0 else min(e.default_threshold for e in engines)
        self.detector = WakeDetector(chosen, cooldown_seconds)
        self.muted = False
        self.detections = 0
        self.audio_frames = 0
        self.last_audio = 0.0
        """Monotonic time of the last audio frame (the watchdog's sign of life)."""
        self.first_audio = asyncio.Event()

    def on_system_frame(self, frame: SystemFrame) -> None:
        if isinstance(frame, MuteFrame):
            self.muted = frame.muted
            self.detector.reset()

    def _score(self, pcm: bytes) -> list[Score]:
        scores: list[Score] = []
        for engine in self.engines:
            scores.extend(engine.process(pcm))
        scores.sort(key=lambda s: s.end_sample)
        return scores

    async def process_frame(self, frame: DataFrame) -> None:
        if not isinstance(frame, InputAudioFrame):
            await self.push_frame(frame)
            return
        self.audio_frames += 1
        self.last_audio = time.monotonic()
        self.first_audio.set()
        await self.push_frame(frame)
        if self.muted:
            return
        scores = await self.run_blocking(self._score, frame.pcm)
        for s in scores:
            det = self.detector.process(s.model, frame.t + s.end_sample / SAMPLE_RATE, s.score)
            if det is not None:
                await self._detected(det)

    async def _detected(self, det: Detection) -> None:
        self.detections += 1
        log.info("wake word %s (score %.2f) at %.2fs", det.model, det.score, det.t)
        self.events.publish(ev.WAKE, model=det.model, score=round(det.score, 3), stream_t=round(det.t, 3))
        await self.push_frame(InterruptionFrame(reason="wake"))
        await self.push_frame(WakeWordFrame(det.model, det.score, det.t))
