"""Audible feedback: a cue when listening starts or ends, and an answer when nothing was understood.

``CuePlayer`` watches the turn frames going by and sends the configured cue
(``[cues]``) to the output, through the same path as replies, so ``--output``
holds it too. It sits before the sentence aggregator, so its spoken
"Sorry, I didn't catch that." is synthesized like any reply.
"""

from __future__ import annotations

from ..audio.cues import Cue
from ..pipeline.frames import (
    CueFrame,
    DataFrame,
    ErrorFrame,
    ListeningFrame,
    TTSSpeakFrame,
    TurnAbandonedFrame,
    UserStoppedSpeakingFrame,
)
from ..pipeline.processor import FrameProcessor


class CuePlayer(FrameProcessor):
    def __init__(
        self,
        wake: Cue | None = None,
        end: Cue | None = None,
        error: Cue | None = None,
        not_understood: str = "",
    ) -> None:
        super().__init__("cues")
        self.wake, self.end, self.error = wake, end, error
        self.not_understood = not_understood.strip()

    async def _play(self, cue: Cue | None) -> None:
        if cue is not None:
            await self.push_frame(CueFrame(cue.name, cue.pcm, cue.sample_rate))

    async def process_frame(self, frame: DataFrame) -> None:
        await self.push_frame(frame)
        if isinstance(frame, ListeningFrame):
            await self._play(self.wake)
        elif isinstance(frame, UserStoppedSpeakingFrame):
            await self._play(self.end)
        elif isinstance(frame, TurnAbandonedFrame):
            if frame.reason == "not_understood":
                if self.not_understood:
                    await self.push_frame(TTSSpeakFrame(frame.turn, self.not_understood, last=True))
                else:
                    await self._play(self.error)
            elif frame.reason == "no_speech":
                await self._play(self.end)  # listening is over
        elif isinstance(frame, ErrorFrame) and frame.turn and not frame.fatal:
            await self._play(self.error)
