"""What comes before the command (pure, one VAD decision per frame): the wake word's end, and the cue's sound."""

from __future__ import annotations

from dataclasses import dataclass


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
