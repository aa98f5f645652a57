"""End-of-turn segmenter: a pure, clock-free state machine.

Fed one VAD decision per chunk (``process(chunk_seconds, is_speech)``), it says
when the user started speaking, when they stopped, or when the turn must end
anyway (nothing said after the wake word, or talking for too long). Time is the
sum of the chunk durations it was given, so tests need no audio and no clock.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Segment(enum.Enum):
    SPEECH_STARTED = "speech_started"
    SPEECH_ENDED = "speech_ended"
    NO_SPEECH = "no_speech"
    MAX_LENGTH = "max_length"


@dataclass
class EndOfTurnSegmenter:
    speech_seconds: float = 0.1
    """Speech needed before the user counts as speaking."""
    silence_seconds: float = 0.6
    """Silence after speech that ends the turn."""
    max_seconds: float = 15.0
    """A turn never lasts longer than this (from the start of speech)."""
    no_speech_seconds: float = 5.0
    """Give up when nothing is said this long after the wake word."""

    def __post_init__(self) -> None:
        self.reset()

    def reset(self, no_speech_seconds: float | None = None) -> None:
        """Start a new turn; ``no_speech_seconds`` overrides the limit for this turn only."""
        self._no_speech_limit = no_speech_seconds or self.no_speech_seconds
        self.elapsed = 0.0
        self.in_speech = False
        self.done = False
        self._speech_run = 0.0
        self._silence_run = 0.0
        self.speech_start: float | None = None
        """Seconds from the segmenter's start to where speech began."""
        self.speech_end: float | None = None
        """Seconds from the segmenter's start to the end of the last speech."""
        self.voiced_seconds = 0.0
        """Seconds of speech chunks since speech started (the pauses not counted)."""

    @property
    def pause_seconds(self) -> float:
        """How long the user has been silent since their last speech (0 before speech started)."""
        return self._silence_run if self.in_speech else 0.0

    def process(self, chunk_seconds: float, is_speech: bool) -> Segment | None:
        if self.done:
            return None
        start_of_chunk = self.elapsed
        self.elapsed += chunk_seconds
        if not self.in_speech:
            if is_speech:
                if self._speech_run == 0.0:
                    self.speech_start = start_of_chunk
                self._speech_run += chunk_seconds
                if self._speech_run >= self.speech_seconds - 1e-9:
                    self.in_speech = True
                    self._silence_run = 0.0
                    self.speech_end = self.elapsed
                    self.voiced_seconds = self._speech_run
                    return Segment.SPEECH_STARTED
            else:
                self._speech_run = 0.0
                if self.elapsed >= self._no_speech_limit - 1e-9:
                    self.done = True
                    return Segment.NO_SPEECH
            return None

        assert self.speech_start is not None
        if is_speech:
            self._silence_run = 0.0
            self.speech_end = self.elapsed
            self.voiced_seconds += chunk_seconds
        else:
            self._silence_run += chunk_seconds
            if self._silence_run >= self.silence_seconds - 1e-9:
                self.done = True
                return Segment.SPEECH_ENDED
        if self.elapsed - self.speech_start >= self.max_seconds - 1e-9:
            self.done = True
            return Segment.MAX_LENGTH
        return None


