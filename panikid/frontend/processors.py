"""The audio front end in the pipeline: the microphone's filter, handed to the input transport (so it
cleans every frame before anything listens, with no queue of its own), and ``ReplyLeveler``, the stage
right before the output that brings the replies to one loudness."""

from __future__ import annotations

import dataclasses
import logging

from ..audio.duck import Duck
from ..audio.echo import EchoReference
from ..audio.frontend import CleanerSettings, InputCleaner, LoudnessLeveler
from ..config import FrontendConfig
from ..pipeline.frames import DataFrame, OutputAudioFrame
from ..pipeline.processor import FrameProcessor

log = logging.getLogger(__name__)


def cleaner_settings(cfg: FrontendConfig) -> CleanerSettings:
    return CleanerSettings(high_pass=cfg.high_pass, noise_suppression=cfg.noise_suppression,
                           noise_suppression_level=cfg.noise_suppression_level, auto_gain=cfg.auto_gain,
                           echo_cancellation=cfg.echo_cancellation, duck_db=cfg.duck_db)


def microphone_filter(cfg: FrontendConfig, reference: EchoReference | None = None,
                      duck: Duck | None = None) -> InputCleaner | None:
    """The input transport's ``audio_filter`` (``frontend.*``), or None when all is off. Echo cancellation
    needs ``reference``, what the local speaker plays (a file output has no echo); ducking needs ``duck``,
    the local speaker's gain."""
    cleaner = InputCleaner(cleaner_settings(cfg), reference=reference, duck=duck)
    log.info("microphone front end: %s", cleaner.settings.describe())
    return cleaner if cleaner.settings.any else None


class ReplyLeveler(FrameProcessor):
    """The replies' speech at ``frontend.output_level_dbfs`` (cues keep their own ``cues.level``)."""

    def __init__(self, target_dbfs: float) -> None:
        super().__init__("ReplyLeveler")
        self.leveler = LoudnessLeveler(target_dbfs)

    async def process_frame(self, frame: DataFrame) -> None:
        if isinstance(frame, OutputAudioFrame) and frame.pcm:
            frame = dataclasses.replace(frame, pcm=self.leveler.process(frame.pcm, frame.sample_rate))
        await self.push_frame(frame)
