"""The audio front end on real signals: WebRTC's high-pass, noise suppression and AGC2 on the microphone's
16 kHz stream, and the replies' loudness levelling; then as pipeline stages, frame in, frame out."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from panikid.audio.convert import float_to_pcm16, pcm16_to_float, sine
from panikid.audio.frontend import CleanerSettings, InputCleaner, LoudnessLeveler, voiced_dbfs
from panikid.config import Config, FrontendConfig
from panikid.devtools import fixtures
from panikid.evaluation.noise import mix_at_snr, pink, scale_active
from panikid.frontend.processors import ReplyLeveler, microphone_filter
from panikid.pipeline.frames import InputAudioFrame, OutputAudioFrame
from panikid.pipeline.testing import run_frames
from panikid.transports.file import FileInputTransport

RATE = 16000


def _clean(settings: CleanerSettings, x: np.ndarray, block: int = 480) -> np.ndarray:
    cleaner = InputCleaner(settings)
    pcm = float_to_pcm16(x)
    out = b"".join(cleaner.process(pcm[i:i + 2 * block]) for i in range(0, len(pcm), 2 * block))
    return pcm16_to_float(out)


def _band_db(x: np.ndarray, lo: float, hi: float) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(x.size))) ** 2
    freqs = np.fft.rfftfreq(x.size, 1 / RATE)
    return float(10 * np.log10(spec[(freqs >= lo) & (freqs <= hi)].sum() + 1e-20))


@pytest.fixture(scope="module")
def speech(speech_dir: Path) -> np.ndarray:
    """A spoken command (piper), int16 at 16 kHz (the corpus's noise functions work on int16)."""
    return fixtures.read_pcm(fixtures.cached_speech("Set a timer for twenty minutes.", speech_dir))


def _f(x: np.ndarray) -> np.ndarray:
    return x.astype(np.float32) / 32768.0


def test_everything_off_passes_the_audio_unchanged() -> None:
    cleaner = InputCleaner(CleanerSettings(high_pass=False))
    pcm = float_to_pcm16(sine(440, 0.1, RATE))
    assert not cleaner.active and cleaner.process(pcm) is pcm


def test_the_high_pass_takes_out_hum_and_keeps_the_voice_band() -> None:
    x = 0.3 * sine(30, 3.0, RATE, 1.0) + 0.1 * sine(1000, 3.0, RATE, 1.0)
    y = _clean(CleanerSettings(high_pass=True), x)
    settled_x, settled_y = x[RATE:], y[RATE:]  # after the filter's first second
    assert _band_db(settled_x, 20, 40) - _band_db(settled_y, 20, 40) > 20
    assert abs(_band_db(settled_x, 900, 1100) - _band_db(settled_y, 900, 1100)) < 1.0


def test_noise_suppression_lowers_the_noise_and_keeps_the_speech(speech: np.ndarray) -> None:
    rng = np.random.default_rng(7)
    lead = 2 * RATE  # noise alone first: the suppressor learns it
    clip = np.concatenate([np.zeros(lead, np.int16), scale_active(speech, -26.0)])
    noisy = _f(mix_at_snr(clip, pink(clip.size, rng), 10.0))
    y = _clean(CleanerSettings(high_pass=True, noise_suppression=True, noise_suppression_level=2), noisy)
    noise_before = 10 * np.log10(np.mean(noisy[RATE:lead] ** 2))
    noise_after = 10 * np.log10(np.mean(y[RATE:lead] ** 2))
    assert noise_before - noise_after > 10, (noise_before, noise_after)
    # The speech keeps its level (within 3 dB) where it is voiced.
    assert abs(voiced_dbfs(y[lead:], RATE)[0] - voiced_dbfs(noisy[lead:], RATE)[0]) < 3.0


def test_auto_gain_raises_a_quiet_speaker(speech: np.ndarray) -> None:
    quiet = _f(np.tile(scale_active(speech, -45.0), 4))  # a distant speaker, about 8 s
    cleaner = InputCleaner(CleanerSettings(high_pass=True, auto_gain=True))
    pcm = float_to_pcm16(quiet)
    out = b"".join(cleaner.process(pcm[i:i + 960]) for i in range(0, len(pcm), 960))
    y = pcm16_to_float(out)
    assert cleaner.gain_db is not None and cleaner.gain_db > 10
    assert voiced_dbfs(y[-quiet.size // 4:], RATE)[0] - voiced_dbfs(quiet, RATE)[0] > 10


def test_blocks_of_any_size_give_the_same_stream(speech: np.ndarray) -> None:
    settings = CleanerSettings(high_pass=True, noise_suppression=True)
    whole = _clean(settings, _f(speech), block=480)
    odd = _clean(settings, _f(speech), block=333)  # the rest of each block waits for the next
    n = min(whole.size, odd.size)
    assert n >= speech.size - 160
    assert np.array_equal(whole[:n], odd[:n])


def test_replies_are_levelled_whatever_the_voice(speech: np.ndarray) -> None:
    """A quiet and a loud voice: from the second reply on (the first one is how the voice is measured),
    both are heard at the target, within 1.5 dB, and never clip."""
    heard = []
    for level in (-34.0, -14.0):
        leveler = LoudnessLeveler(-20.0)
        pcm = scale_active(speech, level).astype("<i2").tobytes()
        for _reply in range(2):
            out = b"".join(leveler.process(pcm[i:i + 8820], RATE) for i in range(0, len(pcm), 8820))
        y = pcm16_to_float(out)
        assert np.abs(y).max() < 0.98
        heard.append(voiced_dbfs(y, RATE)[0])
    assert heard == pytest.approx([-20.0, -20.0], abs=1.5)


def test_silence_and_the_gain_bound() -> None:
    leveler = LoudnessLeveler(-20.0)
    silent = bytes(3200)
    assert leveler.process(silent, RATE) == silent and leveler.level_dbfs is None
    hiss = float_to_pcm16(sine(300, 1.0, RATE, 0.0005))  # about -69 dBFS: no voice to measure
    assert leveler.process(hiss, RATE) == hiss and leveler.level_dbfs is None
    faint = float_to_pcm16(sine(300, 1.0, RATE, 0.01))  # -43 dBFS: raised by at most 15 dB
    out = pcm16_to_float(leveler.process(faint, RATE))
    assert voiced_dbfs(out, RATE)[0] == pytest.approx(-43.0 + 15.0, abs=0.5)


def test_the_input_filter_keeps_every_frame_and_its_time(speech: np.ndarray, tmp_path: Path) -> None:
    """The file input with the front end: every frame as long as it was, at the same ``t``, cleaned."""
    wav = fixtures.write_pcm(tmp_path / "s.wav", speech)
    cfg = FrontendConfig(noise_suppression=True)

    def frames(audio_filter: InputCleaner | None) -> list[InputAudioFrame]:
        tin = FileInputTransport(wav, pace="fast", audio_filter=audio_filter)
        return [f for f in asyncio.run(run_frames(tin, [])) if isinstance(f, InputAudioFrame)]

    raw, cleaned = frames(None), frames(microphone_filter(cfg))
    assert [f.t for f in cleaned] == [f.t for f in raw] and [len(f.pcm) for f in cleaned] == [len(f.pcm) for f in raw]
    assert b"".join(f.pcm for f in cleaned) != b"".join(f.pcm for f in raw)
    assert microphone_filter(FrontendConfig(high_pass=False, noise_suppression=False)) is None


def test_the_leveler_stage_keeps_the_frame_and_levels_its_audio(speech: np.ndarray) -> None:
    out = [OutputAudioFrame(turn=3, pcm=scale_active(speech, -35.0).astype("<i2").tobytes(), sample_rate=RATE,
                            text="hi")]
    got = asyncio.run(run_frames(ReplyLeveler(-20.0), out))
    levelled = [f for f in got if isinstance(f, OutputAudioFrame)]
    assert [(f.turn, f.text) for f in levelled] == [(3, "hi")]
    before = voiced_dbfs(_f(scale_active(speech, -35.0)), RATE)[0]
    # One frame: its own level is the measure, so it comes out at the target.
    assert before != pytest.approx(-20.0, abs=3) and voiced_dbfs(pcm16_to_float(levelled[0].pcm), RATE)[0] == \
        pytest.approx(-20.0, abs=0.5)


def test_the_pipeline_has_the_stages_the_configuration_asks_for(components) -> None:
    from panikid.app.assembly import build_pipeline
    from panikid.pipeline.processor import FrameProcessor

    def names(cfg: Config) -> list[str]:
        pipeline = build_pipeline(cfg, components, FrameProcessor("in"), FrameProcessor("out"))
        return [p.name for p in pipeline.processors]

    assert names(Config())[-2:] == ["ReplyLeveler", "out"]
    assert "ReplyLeveler" not in names(Config(frontend=FrontendConfig(normalize_output=False)))


def _room(x: np.ndarray, delay_s: float, gain_db: float, rng: np.random.Generator) -> np.ndarray:
    """``x`` as a room returns it: delayed, attenuated, with a decaying reverberant tail (RT60 about 0.3 s)."""
    n = int(0.3 * RATE)
    tail = rng.standard_normal(n) * np.exp(-6.9 * np.arange(n) / n) * 0.05
    h = np.zeros(int(delay_s * RATE) + n)
    h[int(delay_s * RATE)] = 1.0
    h[int(delay_s * RATE) + 1:] = tail[: h.size - int(delay_s * RATE) - 1]
    return (np.convolve(x, h)[: x.size] * 10 ** (gain_db / 20)).astype(np.float32)


def test_the_echo_canceller_takes_what_the_speaker_played_out_of_the_microphone(speech: np.ndarray) -> None:
    """The speaker plays a reply at 22.05 kHz in 20 ms blocks; the microphone hears it 90 ms later through a
    room, in 30 ms frames on its own thread's schedule. Through EchoReference and AEC3 the echo is reduced by
    far more than 20 dB once the canceller has converged (ERLE), and without a reference nothing is."""
    from panikid.audio.convert import resample
    from panikid.audio.echo import EchoReference

    rng = np.random.default_rng(11)
    reply = np.tile(_f(scale_active(speech, -20.0)), 4)  # ~7 s of the assistant speaking
    echo = _room(reply, 0.09, -6.0, rng) + rng.normal(0, 1e-4, reply.size).astype(np.float32)
    played = resample(reply, RATE, 22050)

    def run(settings: CleanerSettings, reference: EchoReference | None) -> np.ndarray:
        cleaner = InputCleaner(settings, reference=reference)
        out, t_play, t_cap = [], 0, 0
        block, frame = int(0.02 * 22050), 480
        while t_cap + frame <= echo.size:
            # The speaker asks for its next block when it is due (a little ahead of the microphone's frame).
            while reference is not None and t_play * RATE / 22050 <= t_cap + frame:
                reference.played(float_to_pcm16(played[t_play:t_play + block]).ljust(2 * block, b"\0"))
                t_play += block
            out.append(cleaner.process(float_to_pcm16(echo[t_cap:t_cap + frame])))
            t_cap += frame
        return pcm16_to_float(b"".join(out))

    on = CleanerSettings(high_pass=True, echo_cancellation=True)
    reference = EchoReference()
    reference.set_format(22050, 1)  # as the speaker was opened
    cancelled = run(on, reference)
    untouched = run(CleanerSettings(high_pass=True), None)
    late = slice(3 * RATE, cancelled.size)  # after convergence
    erle = 10 * np.log10(np.mean(echo[late] ** 2) / np.mean(cancelled[late] ** 2))
    print(f"ERLE {erle:.1f} dB")
    assert erle > 25, erle
    assert reference.realigned == 0 and reference.short == 0  # one clock: the alignment held
    assert 10 * np.log10(np.mean(echo[late] ** 2) / np.mean(untouched[late] ** 2)) < 3
    assert InputCleaner(on).settings.echo_cancellation is False  # no reference, no canceller
