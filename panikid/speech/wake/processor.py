"""Wake word: a pure detector (threshold, cooldown) and its processor.

Engines cross the threshold a little *after* the wake phrase ended (the model
averages its last few evaluations). The detection is placed at the first
crossing, and the turn detector starts the user's utterance ``pre_roll_seconds``
before it, so a command spoken straight after the wake word is kept whole.

The threshold is the configured one (``wake.threshold``, or the models' own
cutoff), moved by the sensitivity level; both change live through an
``UpdateSettingsFrame``, and the threshold always follows from the two. While the
local speaker plays (``InputAudioFrame.playing``), ``wake.playback_threshold``
applies instead when it is lower: the echo canceller takes some of the user's voice
with the reply's echo, so the wake word scores lower over a reply.

Stop words (``wake.stop_models``) are heard only while a reply plays (from its
``audio_started`` to its ``audio_stopped``, or while the front end hears the speaker):
one stops the reply (an ``InterruptionFrame``, as the ``stop`` command) and starts no turn.
With ``wake.during_replies`` off the wake word is not listened for while a reply plays.

The ``wake`` event says how loud the phrase was as captured (``level_dbfs``: the mean level of the
last ``WAKE_LEVEL_SECONDS`` of input before the detection, measured before the front end). With an
arbiter (``mqtt.arbitration``: several devices on one broker, :mod:`.arbiter`) the wake word is held
while the devices that heard it agree which one answers; only the winner's turn starts (and cuts its
reply). The audio keeps flowing meanwhile: the turn detector takes the command from its pre-roll.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any

from ...audio.level import LevelHistory
from ...events import Event, EventBus
from ...events.schema import AudioStarted, AudioStopped, StopWord, Wake
from ...pipeline.frames import (
    SAMPLE_RATE,
    DataFrame,
    InputAudioFrame,
    InterruptionFrame,
    MuteFrame,
    SystemFrame,
    WakeModelsFrame,
    WakeWordFrame,
)
from ...pipeline.processor import FrameProcessor
from .arbiter import WakeArbiter, arbitration_event
from .detector import Detection, WakeDetector, sensitivity_threshold
from .engines import Score, WakeEngine

log = logging.getLogger(__name__)

WAKE_LEVEL_SECONDS = 1.0
"""The wake phrase's level is that of the input this long before its detection (about the phrase)."""


class WakeWordProcessor(FrameProcessor):
    """Listens to InputAudioFrames (passed on unchanged) and emits WakeWordFrames.

    A detection first sends an InterruptionFrame (a wake word barges in on a reply
    in progress), then the WakeWordFrame.
    """

    settings_keys = frozenset({"wake.threshold", "wake.cooldown_seconds", "wake.sensitivity",
                               "wake.playback_threshold"})

    def __init__(self, engines: list[WakeEngine], threshold: float = 0.0, cooldown_seconds: float = 2.0,
                 sensitivity: str = "medium", playback_threshold: float = 0.0,
                 stop_engines: list[WakeEngine] | None = None, during_replies: bool = True,
                 arbiter: WakeArbiter | None = None) -> None:
        super().__init__("wake")
        if not engines:
            raise ValueError("at least one wake word engine is needed")
        self.engines = engines
        self.stop_engines = stop_engines or []
        self._stop_names = frozenset(e.name for e in self.stop_engines)
        stop_base = min((e.default_threshold for e in self.stop_engines), default=0.5)
        self.stop_detector = WakeDetector(threshold if threshold > 0 else stop_base, cooldown_seconds)
        self.reply_playing = False
        """A reply is playing (between its audio_started and audio_stopped events)."""
        self.during_replies = during_replies
        """The wake word is listened for while a reply plays (``wake.during_replies``)."""
        self._configured = threshold
        self.sensitivity = sensitivity
        self.playback_threshold = playback_threshold
        """The threshold while the speaker plays (0: the same as ever)."""
        self.detector = WakeDetector(self._threshold(), cooldown_seconds)
        self.muted = False
        self.detections = 0
        self.audio_frames = 0
        self.last_audio = 0.0
        """Monotonic time of the last audio frame (the watchdog's sign of life)."""
        self.first_audio = asyncio.Event()
        self.arbiter = arbiter
        """Decides with the other devices which one answers a wake word (None: this one, always)."""
        self.levels = LevelHistory(seconds=WAKE_LEVEL_SECONDS + 0.5)
        self._arbitrations: set[asyncio.Task[None]] = set()

    @property
    def base_threshold(self) -> float:
        """The configured threshold (0 in the configuration: the models' own cutoff)."""
        return self._configured if self._configured > 0 else min(e.default_threshold for e in self.engines)

    @property
    def threshold(self) -> float:
        """The threshold in effect: the base one, moved by the sensitivity."""
        return self.detector.threshold

    def _threshold(self) -> float:
        return sensitivity_threshold(self.sensitivity, self.base_threshold)

    def apply_settings(self, settings: Mapping[str, Any]) -> None:
        if "wake.threshold" in settings:
            self._configured = float(settings["wake.threshold"])
        if "wake.sensitivity" in settings:
            level = str(settings["wake.sensitivity"])
            sensitivity_threshold(level, 0.5)  # an unknown level is refused before anything changes
            self.sensitivity = level
        if "wake.playback_threshold" in settings:
            self.playback_threshold = float(settings["wake.playback_threshold"])
        if "wake.cooldown_seconds" in settings:
            self.detector.cooldown_seconds = float(settings["wake.cooldown_seconds"])
        self.detector.threshold = self._threshold()

    async def setup(self, events: EventBus) -> None:
        await super().setup(events)
        events.listen(self._on_event)

    def _on_event(self, e: Event) -> None:
        if isinstance(e.body, AudioStarted):
            self.reply_playing = True
        elif isinstance(e.body, AudioStopped):
            self.reply_playing = False

    def on_system_frame(self, frame: SystemFrame) -> None:
        if isinstance(frame, MuteFrame):
            self.muted = frame.muted
            self.detector.reset()
        elif isinstance(frame, WakeModelsFrame) and frame.engines:
            self.engines = list(frame.engines)  # type: ignore[arg-type]  # WakeEngines, loaded by the control API
            self.detector.reset()
            self.detector.threshold = self._threshold()  # the new models' own cutoff, when none is configured

    def _score(self, pcm: bytes) -> list[Score]:
        scores: list[Score] = []
        for engine in (*self.engines, *self.stop_engines):
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
        if frame.level_dbfs is not None:
            self.levels.add(frame.t, frame.duration, frame.level_dbfs)
        await self.push_frame(frame)
        if self.muted:
            return
        scores = await self.run_blocking(self._score, frame.pcm)
        threshold = None
        if frame.playing and self.playback_threshold > 0:  # never harder to wake than otherwise
            threshold = min(self.playback_threshold, self.detector.threshold)
        for s in scores:
            t = frame.t + s.end_sample / SAMPLE_RATE
            if s.model in self._stop_names:
                if self.reply_playing or frame.playing:
                    stop = self.stop_detector.process(s.model, t, s.score)
                    if stop is not None:
                        await self._stop_heard(stop)
                continue
            if not self.during_replies and (self.reply_playing or frame.playing):
                continue
            det = self.detector.process(s.model, t, s.score, threshold)
            if det is not None:
                await self._detected(det)

    async def _stop_heard(self, det: Detection) -> None:
        log.info("stop word %s (score %.2f) at %.2fs: the reply stops", det.model, det.score, det.t)
        self.events.publish(StopWord(model=det.model, score=round(det.score, 3), stream_t=round(det.t, 3)))
        await self.push_frame(InterruptionFrame(reason="stop"))

    async def _detected(self, det: Detection) -> None:
        self.detections += 1
        level = self.levels.level(det.t, WAKE_LEVEL_SECONDS)
        log.info("wake word %s (score %.2f) at %.2fs, %s", det.model, det.score, det.t,
                 "level unknown" if level is None else f"{level:.1f} dBFS")
        self.events.publish(Wake(model=det.model, score=round(det.score, 3), stream_t=round(det.t, 3),
                                 level_dbfs=None if level is None else round(level, 2)))
        if self.arbiter is None:
            await self._wake(det)
            return
        task = asyncio.create_task(self._arbitrate(self.arbiter, det, level), name="wake-arbitration")
        self._arbitrations.add(task)
        task.add_done_callback(self._arbitrations.discard)

    async def _arbitrate(self, arbiter: WakeArbiter, det: Detection, level: float | None) -> None:
        """Held while the devices agree; the audio flows on meanwhile (the turn takes it from its pre-roll)."""
        try:
            decision, alone = await arbiter.arbitrate(level, det.score)
        except Exception:  # never lose a wake word to the arbitration: answer as if alone
            log.exception("wake arbitration failed: answering")
            await self._wake(det)
            return
        self.events.publish(arbitration_event(decision, level, alone))
        if not decision.won:
            log.info("wake word: %s heard it louder and answers (%s)", decision.winner,
                     ", ".join(f"{d} {v:.1f} dBFS" for d, v in decision.levels.items()))
            return
        if self.muted:
            return  # muted while the devices agreed
        await self._wake(det)

    async def _wake(self, det: Detection) -> None:
        await self.push_frame(InterruptionFrame(reason="wake"))
        await self.push_frame(WakeWordFrame(det.model, det.score, det.t))

    async def stop(self) -> None:
        for task in list(self._arbitrations):
            task.cancel()
        await super().stop()
