"""Was anything said? A pure judge of what speech-to-text made of an utterance.

Whisper writes something for any audio: for silence, noise, a breath or the
tail of the wake word it writes ".", "You", "Thank you.", "So," or a lone
letter. None of that is a request, and answering it makes the assistant
ramble at nothing. ``judge`` decides from the decoder's own confidence (the
no-speech probability, the average log-probability of the tokens, the
compression ratio of the text: a loop repeats itself) and from how much
speech VAD heard, and names the reason when it refuses.

The thresholds were chosen on 720 spoken commands (24 commands, three piper
and three espeak-ng voices, clean and in pink noise and babble at 10 and 5 dB
SNR) and 105 clips with no command in them (the wake word's tail, pink noise
bursts, breaths, babble, silence), transcribed by tiny.en: 3 of the 432
correctly transcribed commands are refused (a noisy "Stop."), 42 of the 288
misheard ones (better "I didn't catch that" than an answer to the wrong
question), and 2 of the 105 non-commands get through (fragments of the wake
word, which the turn detector cuts off before they get here).
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

NO_SPEECH_PROB = 0.6
"""Whisper's no-speech probability above which a low-confidence text is taken for silence."""
LOW_CONFIDENCE_LOGPROB = -0.55
"""Average token log-probability below which a text Whisper thinks may be silence is refused."""
UNSURE_LOGPROB = -1.4
"""Average token log-probability below which any text is refused (a guess, not a hearing)."""
MAX_COMPRESSION_RATIO = 2.4
"""Text that compresses better than this repeats itself: a decoding loop (faster-whisper's own bound)."""
FILLER_SPEECH_SECONDS = 0.6
"""A stock phrase from less speech than this is taken for what Whisper writes for noise."""

_FILLERS = frozenset({
    "you", "thank you", "thanks", "thank you very much", "thanks for watching", "thank you for watching",
    "so", "bye", "okay", "oh", "uh", "um", "hmm", "mm", "ah", "huh", "yeah", "i", "the", "a", "and",
    "blank audio", "silence", "music", "applause", "laughter", "boo", "now", "now boo", "okay now boo",
    "okay naboo", "naboo", "nabu", "okay nabu",
})
"""What Whisper writes for noise, breath or the wake word's tail, when little speech was heard."""


@dataclass(frozen=True)
class Heard:
    """What speech-to-text made of one utterance, with the decoder's confidence."""

    text: str
    no_speech_prob: float = 0.0
    avg_logprob: float = 0.0
    compression_ratio: float = 0.0
    speech_seconds: float | None = None
    """How much of the utterance VAD called speech (None: not known)."""
    engine: str | None = None
    """The engine that made the transcript ("whisper", "wyoming"; None: the local one)."""


def compression_ratio(text: str) -> float:
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 0.0


def _words(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9']+", text.lower()))


def judge(h: Heard) -> str | None:
    """None when ``h`` is worth answering, else the reason it is not (for the ``turn_abandoned`` event)."""
    words = _words(h.text)
    if not words:
        return "nothing intelligible"
    if h.compression_ratio > MAX_COMPRESSION_RATIO:
        return f"the transcript repeats itself (compression ratio {h.compression_ratio:.1f})"
    if h.no_speech_prob > NO_SPEECH_PROB and h.avg_logprob < LOW_CONFIDENCE_LOGPROB:
        return f"speech-to-text heard no speech (no-speech probability {h.no_speech_prob:.2f})"
    if h.avg_logprob < UNSURE_LOGPROB:
        return f"speech-to-text was unsure (average log-probability {h.avg_logprob:.2f})"
    short = h.speech_seconds is not None and h.speech_seconds < FILLER_SPEECH_SECONDS
    if words in _FILLERS and (short or h.no_speech_prob > 0.3):
        return f"only {h.text.strip()!r}, what speech-to-text writes for noise"
    if len(words.replace("'", "")) == 1 and short:
        return f"only {h.text.strip()!r}, a lone letter or digit"
    return None
