"""What speech-to-text made of an utterance: the judge that keeps noise and silence from the brains."""

from __future__ import annotations

import numpy as np
import pytest

from panikid.devtools import fixtures
from panikid.pipeline.frames import SAMPLE_RATE
from panikid.speech.stt.hearing import Heard, compression_ratio, judge


@pytest.mark.parametrize("heard", [
    Heard("."), Heard(""), Heard("..."),
    Heard("You", no_speech_prob=0.95, avg_logprob=-1.4, speech_seconds=0.3),
    Heard("Thank you.", no_speech_prob=0.71, avg_logprob=-0.55, speech_seconds=0.2),
    Heard("So,", no_speech_prob=0.4, avg_logprob=-0.9, speech_seconds=0.25),
    Heard("Boo.", no_speech_prob=0.43, avg_logprob=-1.37, speech_seconds=0.3),
    Heard("B", no_speech_prob=0.2, avg_logprob=-0.5, speech_seconds=0.2),
    Heard("5", no_speech_prob=0.2, avg_logprob=-0.5, speech_seconds=0.2),
    Heard("the the the the the the the the the the the the the the the the the",
          compression_ratio=compression_ratio("the the the the the the the the the the the the the the the the the")),
    Heard("Sure, I'll be there.", no_speech_prob=0.2, avg_logprob=-1.9, speech_seconds=1.0),
])
def test_what_whisper_writes_for_nothing_is_refused_with_a_reason(heard: Heard) -> None:
    reason = judge(heard)
    assert reason is not None and len(reason) > 5


@pytest.mark.parametrize("heard", [
    Heard("What time is it?", no_speech_prob=0.13, avg_logprob=-0.08, speech_seconds=0.9),
    Heard("Stop.", no_speech_prob=0.16, avg_logprob=-0.45, speech_seconds=0.35),
    Heard("Yes.", no_speech_prob=0.31, avg_logprob=-0.31, speech_seconds=0.3),
    Heard("Thank you.", no_speech_prob=0.05, avg_logprob=-0.2, speech_seconds=0.8),  # really said
    Heard("Set a timer for 10 minutes.", no_speech_prob=0.09, avg_logprob=-0.12, speech_seconds=1.4),
    Heard("Turn it up", no_speech_prob=0.5, avg_logprob=-1.2, speech_seconds=0.7),  # noisy but heard
])
def test_real_requests_pass(heard: Heard) -> None:
    assert judge(heard) is None


def test_whisper_itself_on_noise_and_on_commands(components, speech_dir) -> None:
    """Through the real model: noise, silence and a wake word's tail are refused; commands pass."""
    rng = np.random.default_rng(5)
    stt = components.stt

    def pink(seconds: float, level: float) -> np.ndarray:
        spectrum = np.fft.rfft(rng.standard_normal(int(seconds * SAMPLE_RATE)))
        spectrum[1:] /= np.sqrt(np.arange(1, len(spectrum)))
        x = np.fft.irfft(spectrum, int(seconds * SAMPLE_RATE))
        return (x / np.abs(x).max() * level * 32767).astype(np.int16)

    gap = np.zeros(SAMPLE_RATE // 4, dtype=np.int16)
    wake = fixtures.read_pcm(fixtures.cached_speech(fixtures.WAKE_PHRASE, speech_dir))
    nothing = [np.zeros(SAMPLE_RATE, dtype=np.int16), pink(1.0, 0.02), pink(1.5, 0.1), pink(0.6, 0.3),
               np.concatenate([wake[-int(0.2 * SAMPLE_RATE):], gap])]
    refused = [judge(Heard(**{**stt.hear(x.tobytes()).__dict__, "speech_seconds": 0.3})) for x in nothing]
    assert all(refused), list(zip(refused, [stt.hear(x.tobytes()).text for x in nothing], strict=True))
    for text, seed in [("What time is it?", 3), ("Stop.", 4), ("Turn on the kitchen lights.", 5),
                       ("What is the capital of France?", 6)]:
        speech = np.concatenate([gap, fixtures.read_pcm(fixtures.cached_speech(text, speech_dir, seed)), gap])
        h = stt.hear(speech.tobytes())
        assert judge(Heard(h.text, h.no_speech_prob, h.avg_logprob, h.compression_ratio, 1.0)) is None, h
