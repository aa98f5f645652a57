"""Double talk: the user speaks while the assistant's reply plays. The wake threshold while the speaker
plays, and ducking (the reply turned down under the user's voice): their logic, and ducking through the
real front end in a simulated room."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np
import pytest

from panikid.audio.convert import float_to_pcm16, pcm16_to_float
from panikid.audio.duck import RELEASE_SECONDS, Duck, DuckDecider
from panikid.audio.echo import PLAYING_HOLD_SECONDS, EchoReference
from panikid.audio.frontend import CleanerSettings, InputCleaner
from panikid.devtools import fixtures
from panikid.evaluation.noise import scale_active
from panikid.pipeline.frames import InputAudioFrame, WakeWordFrame
from panikid.pipeline.testing import run_frames
from panikid.speech.wake.detector import WakeDetector
from panikid.speech.wake.engines import Score
from panikid.speech.wake.processor import WakeWordProcessor

RATE = 16000


def test_the_decider_ducks_for_a_voice_not_for_a_click_and_lets_go() -> None:
    d = DuckDecider(15.0)
    ducked = 10 ** (-15 / 20)
    # Clicks: one speech step in three, for a second: never 9 of 15.
    assert all(d.step(k % 3 == 0, True) == 1.0 for k in range(100))
    d.step(False, False)  # between replies: the votes start again
    gains = [d.step(True, True) for _ in range(20)]
    assert gains[7] == 1.0 and gains[8] == pytest.approx(ducked)  # the 9th speech step in a row
    assert d.times_ducked == 1
    quiet = [d.step(False, True) for _ in range(round(RELEASE_SECONDS / 0.01))]
    assert quiet[-2] == pytest.approx(ducked) and quiet[-1] == 1.0  # a second of quiet brings the reply back
    [d.step(True, True) for _ in range(10)]
    assert d.ducked and d.step(True, False) == 1.0 and not d.ducked  # the reply ended: no more ducking
    with pytest.raises(ValueError, match="duck_db"):
        DuckDecider(0.0)


def test_the_duck_ramps_each_block_and_leaves_undisturbed_audio_alone() -> None:
    duck = Duck()
    block = float_to_pcm16(np.full(2 * 320, 0.5, dtype=np.float32))  # 320 stereo frames
    assert duck.apply(block, 2) is block
    duck.target = 0.1
    x = pcm16_to_float(duck.apply(block, 2), 2)
    assert x[0, 0] == pytest.approx(0.5, abs=1e-3) and x[-1, 1] == pytest.approx(0.05, abs=2e-3)
    assert np.all(np.diff(x[:, 0]) <= 1e-6) and np.allclose(x[:, 0], x[:, 1])  # both channels, no step
    steady = pcm16_to_float(duck.apply(block, 2), 2)
    assert np.allclose(steady, 0.05, atol=1e-3)


def test_the_reference_knows_when_the_speaker_plays() -> None:
    ref = EchoReference()
    ref.played(bytes(640))
    assert not ref.playing  # zeros: the speaker is silent
    ref.played(float_to_pcm16(np.full(320, 0.1, dtype=np.float32)))
    assert ref.playing
    time.sleep(PLAYING_HOLD_SECONDS + 0.05)
    ref.played(bytes(640))
    assert not ref.playing


def test_the_detector_takes_a_threshold_per_score() -> None:
    d = WakeDetector(threshold=0.85, cooldown_seconds=2.0)
    assert d.process("m", 0.0, 0.7) is None
    assert d.process("m", 0.1, 0.7, threshold=0.6) is not None


class _Scores:
    """A wake engine that answers given scores, one per frame (the processor's threshold logic is tested,
    not a model)."""

    name = "scripted"
    default_threshold = 0.85

    def __init__(self, scores: list[float]) -> None:
        self._scores = list(scores)

    def process(self, pcm: bytes) -> list[Score]:
        return [Score(self.name, len(pcm) // 2, self._scores.pop(0))] if self._scores else []

    def reset(self) -> None:
        pass


@pytest.mark.parametrize(("playing", "playback_threshold", "wakes"),
                         [(False, 0.6, 0), (True, 0.6, 1), (True, 0.0, 0), (True, 0.75, 0), (True, 0.95, 0)])
def test_the_playback_threshold_applies_only_while_the_speaker_plays(playing: bool, playback_threshold: float,
                                                                      wakes: int) -> None:
    wake = WakeWordProcessor([_Scores([0.3, 0.7, 0.3])], playback_threshold=playback_threshold)
    frames = [InputAudioFrame(pcm=bytes(960), t=0.03 * k, playing=playing) for k in range(3)]
    out = asyncio.run(run_frames(wake, frames))
    assert sum(isinstance(f, WakeWordFrame) for f in out) == wakes


def _room(x: np.ndarray, delay_s: float, rng: np.random.Generator) -> np.ndarray:
    n = int(0.3 * RATE)
    h = np.zeros(int(delay_s * RATE) + n)
    h[int(delay_s * RATE)] = 1.0
    h[int(delay_s * RATE) + 1:] = (rng.standard_normal(n) * np.exp(-6.9 * np.arange(n) / n) * 0.05)[: n - 1]
    return h


def test_ducking_turns_the_reply_down_while_the_user_talks_over_it(speech_dir: Path) -> None:
    """Through the real AEC3 and voice activity detector: the reply plays into a simulated room, the
    canceller converges; the user then speaks over the reply and the reply is turned down (from the
    next block the speaker takes), and comes back a second after the user stopped. What the speaker
    played, ducked, is exactly what the canceller was handed."""
    rng = np.random.default_rng(3)
    reply = scale_active(fixtures.read_pcm(fixtures.cached_speech(
        "Here is a longer answer, so that there is time to cut in. The weather today is mild.", speech_dir)), -20.0)
    reply = np.tile(reply.astype(np.float64) / 32768.0, 3)
    user = scale_active(fixtures.read_pcm(fixtures.cached_speech("What time is it in Tokyo right now?",
                                                                 speech_dir)), -25.0) / 32768.0
    h = _room(reply, 0.06, rng)
    at = int(reply.size * 2 / 3)
    near = rng.normal(0, 3e-4, reply.size)
    near[at:at + user.size] += user
    reference, duck = EchoReference(), Duck()
    cleaner = InputCleaner(CleanerSettings(high_pass=True, noise_suppression=True, echo_cancellation=True,
                                           duck_db=15.0), reference=reference, duck=duck)
    played = np.zeros(reply.size)
    frame, gains = 480, []
    for k in range(0, reply.size - frame + 1, frame):
        block = float_to_pcm16(reply[k:k + frame].astype(np.float32))
        block = duck.apply(block, 1)  # as the speaker's callback does
        reference.played(block)
        played[k:k + frame] = pcm16_to_float(block)
        seg = played[max(0, k + frame - h.size - frame + 1):k + frame]
        seg = np.concatenate([np.zeros(h.size + frame - 1 - seg.size), seg])
        echo = np.convolve(seg, h, mode="valid")
        cleaner.process(float_to_pcm16((echo + near[k:k + frame]).astype(np.float32)))
        gains.append((k / RATE, duck.target))
    assert cleaner.ducker is not None
    t_user, t_end = at / RATE, (at + user.size) / RATE
    converged = [g for t, g in gains if 4.0 < t < t_user]  # the canceller had the first seconds to converge
    during = [g for t, g in gains if t_user + 0.3 < t < t_end]
    after = [g for t, g in gains if t > t_end + RELEASE_SECONDS + 0.3]
    assert min(converged) == 1.0, "the reply's own echo ducked it"
    assert np.mean(np.array(during) < 1.0) > 0.8, "the user's voice did not duck the reply"
    assert after and min(after) == 1.0, "the reply stayed down after the user stopped"
    assert np.max(np.abs(played[at + RATE // 2: at + user.size])) < 0.3 * np.max(np.abs(reply))


def test_the_chime_is_hidden_from_the_vad_only_without_the_echo_canceller(components) -> None:
    """With the canceller the microphone no longer hears the chime (the speaker's reference holds it):
    the turn detector's cue mask is for a microphone without one."""
    from panikid.app.assembly import build_pipeline
    from panikid.config import Config
    from panikid.pipeline.processor import FrameProcessor
    from panikid.speech.turn.processor import TurnDetector
    from panikid.transports.file import FileInputTransport

    def cue_seconds(audio_filter: InputCleaner | None) -> float:
        tin = FileInputTransport("unused.wav", audio_filter=audio_filter)
        pipeline = build_pipeline(Config(), components, tin, FrameProcessor("out"))
        return next(p for p in pipeline.processors if isinstance(p, TurnDetector)).cue_seconds

    cancelling = InputCleaner(CleanerSettings(echo_cancellation=True), reference=EchoReference())
    assert cue_seconds(cancelling) == 0.0
    assert cue_seconds(InputCleaner(CleanerSettings())) > 0.1  # the chime's length
    assert cue_seconds(None) > 0.1
