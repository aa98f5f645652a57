"""Typed frames: the only things that travel through the pipeline.

Two families:

* ``SystemFrame``s overtake data frames. They are handled the moment they are
  queued (interruption, cancellation, mute) and never wait behind audio.
* ``DataFrame``s are processed in order. An ``InterruptionFrame`` drops every
  data frame still queued downstream and cancels in-flight work.

Control frames (``StartFrame``, ``EndFrame``) are data frames on purpose: end of
input must arrive *after* the audio that preceded it, so the reply in progress
can finish before the pipeline stops.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from ..audio import SAMPLE_RATE


@dataclass(frozen=True)
class Frame:
    """Base of every frame."""


# --------------------------------------------------------------------------- system


@dataclass(frozen=True)
class SystemFrame(Frame):
    """Overtakes data frames; handled synchronously when queued."""


@dataclass(frozen=True)
class InterruptionFrame(SystemFrame):
    """Drop queued data frames downstream and cancel in-flight generation."""

    reason: str = "interrupted"


@dataclass(frozen=True)
class CancelFrame(SystemFrame):
    """Stop now: drop everything, the runner is shutting down."""


@dataclass(frozen=True)
class MuteFrame(SystemFrame):
    """Mute (True) or unmute (False) the wake word and turn detection."""

    muted: bool = True


@dataclass(frozen=True)
class UpdateSettingsFrame(SystemFrame):
    """Change settings of the running pipeline: ``section.key`` -> new value (a reload, a command).

    Each processor applies the keys it declares in ``settings_keys`` and passes the frame on. The keys
    are configuration keys (``wake.threshold``, ``audio.volume``) plus the two settings only a command
    sets: ``wake.sensitivity`` (low, medium, high) and ``llm.backend`` (auto, local, cloud).
    """

    settings: dict[str, object] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class WakeModelsFrame(SystemFrame):
    """Listen for these wake word engines from now on (the ``wake_word`` command), loaded beforehand:
    the wake word processor swaps them in between two audio frames."""

    engines: tuple[object, ...] = field(default=(), hash=False)


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class DataFrame(Frame):
    """Processed in order; dropped by an interruption unless not ``interruptible``."""

    interruptible: ClassVar[bool] = True


@dataclass(frozen=True)
class StartFrame(DataFrame):
    """First frame through the pipeline."""

    interruptible: ClassVar[bool] = False


@dataclass(frozen=True)
class EndFrame(DataFrame):
    """End of input: finish what is in progress, then stop."""

    interruptible: ClassVar[bool] = False


@dataclass(frozen=True)
class InputAudioFrame(DataFrame):
    """Microphone audio: 16 kHz mono signed 16-bit little-endian PCM.

    ``t`` is the stream time of the first sample, in seconds since the input
    started (counted in samples, so it is exact at any pace). ``playing``: the local speaker was
    playing while it was captured (known only with echo cancellation, which watches the speaker).
    ``level_dbfs``: how loud the block was as captured, before the audio front end changed it (noise
    suppression and gain control even levels out); None when not measured.
    """

    pcm: bytes
    t: float
    sample_rate: int = SAMPLE_RATE
    playing: bool = False
    level_dbfs: float | None = None
    # Live input is never dropped: the turn detector needs it for its pre-roll.
    interruptible: ClassVar[bool] = False

    @property
    def duration(self) -> float:
        return len(self.pcm) / 2 / self.sample_rate


@dataclass(frozen=True)
class WakeWordFrame(DataFrame):
    """The wake word was heard; ``t`` is where in the stream it ended."""

    model: str
    score: float
    t: float


@dataclass(frozen=True)
class ListenFrame(DataFrame):
    """Start a turn as if woken (a command, or follow-up listening after a reply)."""

    no_speech_seconds: float = 0.0
    """Give up when nothing is said this long; 0 = the configured vad.no_speech_seconds."""
    reason: str = "listen"
    """listen (a command) or follow_up (after a reply, in follow-up mode)."""


@dataclass(frozen=True)
class ListeningFrame(DataFrame):
    """A turn has started: the turn detector waits for the command (the wake cue plays now)."""

    turn: int
    reason: str = "wake"
    """wake, listen (a command) or follow_up."""


@dataclass(frozen=True)
class UserStartedSpeakingFrame(DataFrame):
    turn: int
    t: float


@dataclass(frozen=True)
class UserStoppedSpeakingFrame(DataFrame):
    turn: int
    t: float


@dataclass(frozen=True)
class UtteranceFrame(DataFrame):
    """The user's whole utterance (16 kHz mono s16le), ready for STT."""

    turn: int
    pcm: bytes
    sample_rate: int = SAMPLE_RATE
    speech_seconds: float | None = None
    """How much of it VAD called speech (None: not known)."""


@dataclass(frozen=True)
class SpeculationFrame(DataFrame):
    """The utterance so far, at a pause: transcribed ahead, in case the turn ends there."""

    turn: int
    pcm: bytes


@dataclass(frozen=True)
class TranscriptionFrame(DataFrame):
    turn: int
    text: str


@dataclass(frozen=True)
class LLMResponseStartFrame(DataFrame):
    turn: int


@dataclass(frozen=True)
class LLMTextFrame(DataFrame):
    """A streamed piece of the reply (a token or a few)."""

    turn: int
    text: str


@dataclass(frozen=True)
class LLMResponseEndFrame(DataFrame):
    turn: int
    text: str = ""


@dataclass(frozen=True)
class TTSSpeakFrame(DataFrame):
    """One sentence to speak."""

    turn: int
    text: str
    last: bool = False


@dataclass(frozen=True)
class OutputAudioFrame(DataFrame):
    """Speaker audio: mono s16le at ``sample_rate``."""

    turn: int
    pcm: bytes
    sample_rate: int
    text: str = ""
    """The sentence this audio speaks (lets the output tell what was heard before an interruption)."""


@dataclass(frozen=True)
class CueFrame(DataFrame):
    """A short sound (the wake chime, an end or error cue): played, but no reply of any turn."""

    name: str
    pcm: bytes
    sample_rate: int


@dataclass(frozen=True)
class TTSStoppedFrame(DataFrame):
    """The last audio of a reply has been emitted."""

    turn: int


@dataclass(frozen=True)
class TurnAbandonedFrame(DataFrame):
    """A turn ended without anything to say (no speech, empty transcript)."""

    turn: int
    reason: str = ""


@dataclass(frozen=True)
class ErrorFrame(DataFrame):
    """Something failed in ``where``; carried to the end of the pipeline."""

    where: str
    message: str
    turn: int = 0
    fatal: bool = False
    extra: dict[str, object] = field(default_factory=dict, compare=False, hash=False)
