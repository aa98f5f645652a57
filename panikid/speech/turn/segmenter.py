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


@dataclass
class WakeTailTrimmer:
    """Finds where the command starts at the beginning of a wake-word turn (pure, one VAD decision per frame).

    A turn starts ``pre_roll`` before the wake word was detected, so it begins
    with the end of the wake word. ``wake_end`` is the frame (counted from the
    turn's start) by which the wake word has certainly ended: the detection
    plus a margin, since an engine may fire a little before the word's last
    sound. A run of speech that ends by ``wake_end`` and is followed by a pause
    of at least ``min_gap`` frames is the wake word, however long the pause
    after it: the command starts after the last such run. Speech still running
    at ``wake_end`` with no pause is the command spoken in the same breath, and
    is kept whole (a syllable of the wake word is better than a lost first
    word). ``process`` returns how many leading frames to drop once that is
    known, at the latest ``min_gap`` frames after ``wake_end``; until then the
    caller holds the frames back.
    """

    wake_end: int
    min_gap: int = 3
    max_frames: int = 60
    """Continuous speech this long decides it too (the same breath)."""

    def __post_init__(self) -> None:
        self.done = False
        self._n = 0
        self._seen_speech = False
        self._speech_end = 0  # frame index just after the last speech frame
        self._gap = 0
        self._cut = 0

    def _wake_run_ended(self) -> bool:
        return self._seen_speech and self._gap >= self.min_gap and self._speech_end <= self.wake_end

    def process(self, is_speech: bool) -> int | None:
        """Frames to drop from the start of the turn, once the answer is known; else None."""
        if self.done:
            return None
        i = self._n
        self._n += 1
        if is_speech:
            if self._wake_run_ended():
                self._cut = self._speech_end
            if self._seen_speech and self._gap >= self.min_gap and i >= self.wake_end:
                return self._decide()  # speech after a pause, past the wake word: the command
            self._seen_speech = True
            self._speech_end = i + 1
            self._gap = 0
        else:
            self._gap += 1
            if self._wake_run_ended():
                self._cut = self._speech_end
            if self._n >= self.wake_end + self.min_gap and (self._gap >= self.min_gap or not self._seen_speech):
                return self._decide()  # a pause under way after the wake word's end
        if self._n >= self.max_frames:
            return self._decide()
        return None

    def _decide(self) -> int:
        self.done = True
        return self._cut

    def finish(self) -> int:
        """No more audio: drop what is known to be the wake word."""
        if self.done:
            return 0
        if self._wake_run_ended():
            self._cut = self._speech_end
        return self._decide()


@dataclass
class CueMask:
    """Keeps the cue's own sound from starting the command (pure, one VAD decision per frame).

    With no echo cancellation the microphone hears the wake chime, and VAD
    calls it speech. Decisions from frame ``start`` up to (not including)
    ``end`` (the cue plus its echo, counted from the segmenter's start) are
    held back: when the frame after the window is silence, they are all
    silence (the cue, or a breath, never starts the command); when speech runs
    on past the window, the run under way (since the last pause of
    ``min_gap`` frames) counts as speech from its start, so a command spoken
    over the chime is kept whole. A command already under way when the window
    opens is not touched.
    """

    start: int
    end: int
    min_gap: int = 3

    def __post_init__(self) -> None:
        self._n = 0
        self._held: list[bool] = []
        self._passthrough = False
        self._released = False

    def process(self, is_speech: bool, in_speech: bool) -> list[bool]:
        """The decisions to give the segmenter now (``in_speech``: the segmenter's own state)."""
        i = self._n
        self._n += 1
        if i < self.start or self._released or self._passthrough:
            return [is_speech]
        if i < self.end:
            if not self._held and in_speech:
                self._passthrough = True  # the command started before the cue: nothing to hide
                return [is_speech]
            self._held.append(is_speech)
            return []
        self._released = True
        return self._release(is_speech) + [is_speech]

    def _release(self, next_is_speech: bool) -> list[bool]:
        held, self._held = self._held, []
        if not next_is_speech:
            return [False] * len(held)
        run_start: int | None = None
        gap = self.min_gap  # the window's start counts as after a pause
        for k, speech in enumerate(held):
            if speech:
                if gap >= self.min_gap:
                    run_start = k
                gap = 0
            else:
                gap += 1
        if run_start is None or gap >= self.min_gap:
            run_start = len(held)  # the speech after the window starts after a pause
        return [False] * run_start + held[run_start:]

    def flush(self) -> list[bool]:
        """No more audio: what is still held was the cue."""
        self._released = True
        held, self._held = self._held, []
        return [False] * len(held)
