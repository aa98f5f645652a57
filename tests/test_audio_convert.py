"""Sample formats, channels, resampling, volume and level helpers."""

from __future__ import annotations

import numpy as np
import pytest

from panikid.audio.convert import (
    StreamResampler,
    apply_volume,
    dbfs,
    downmix,
    downmix_pcm16,
    float_to_pcm16,
    pcm16_to_float,
    peak_frequency,
    resample,
    resample_pcm16,
    rms,
    sine,
    upmix,
    upmix_pcm16,
)


def test_pcm16_round_trip_and_clipping() -> None:
    x = np.array([0.0, 0.5, -0.5, 0.999, -1.0], dtype=np.float32)
    pcm = float_to_pcm16(x)
    assert len(pcm) == 10
    assert np.allclose(pcm16_to_float(pcm), x, atol=1 / 32768)
    # Out-of-range values clip instead of wrapping around.
    clipped = np.frombuffer(float_to_pcm16(np.array([1.5, -1.5, 1.0])), dtype="<i2")
    assert clipped.tolist() == [32767, -32768, 32767]


def test_pcm16_to_float_interleaved_channels() -> None:
    pcm = np.array([100, -100, 200, -200], dtype="<i2").tobytes()
    x = pcm16_to_float(pcm, channels=2)
    assert x.shape == (2, 2)
    assert x[:, 0].tolist() == pytest.approx([100 / 32768, 200 / 32768])


@pytest.mark.parametrize(("src", "dst"), [(22050, 16000), (48000, 16000), (44100, 16000), (16000, 48000)])
def test_resample_keeps_frequency_and_duration(src: int, dst: int) -> None:
    x = sine(440.0, 1.0, src)
    y = resample(x, src, dst)
    assert len(y) == pytest.approx(dst, abs=2)
    assert peak_frequency(y, dst) == pytest.approx(440.0, abs=2.0)
    assert rms(y) == pytest.approx(rms(x), rel=0.02)


def test_resample_pcm16_same_rate_is_identity() -> None:
    pcm = float_to_pcm16(sine(300, 0.1, 16000))
    assert resample_pcm16(pcm, 16000, 16000) is pcm


def test_downmix_averages_channels() -> None:
    left = sine(440, 0.5, 16000)
    stereo = np.stack([left, np.zeros_like(left)], axis=1)
    mono = downmix(stereo)
    assert mono.shape == left.shape
    assert np.allclose(mono, left / 2)
    # The pcm16 helper does the same on interleaved bytes.
    pcm = downmix_pcm16(float_to_pcm16(stereo), 2)
    assert np.allclose(pcm16_to_float(pcm), left / 2, atol=2 / 32768)


def test_upmix_copies_mono_to_every_channel() -> None:
    x = sine(440, 0.1, 16000)
    up = upmix(x, 3)
    assert up.shape == (x.size, 3)
    assert all(np.array_equal(up[:, c], x) for c in range(3))
    pcm = float_to_pcm16(x)
    up_pcm = pcm16_to_float(upmix_pcm16(pcm, 2), 2)
    assert np.array_equal(up_pcm[:, 0], up_pcm[:, 1])
    assert np.array_equal(float_to_pcm16(up_pcm[:, 0]), pcm)


def test_apply_volume_scales_and_clips() -> None:
    pcm = float_to_pcm16(sine(440, 0.5, 16000, amplitude=0.5))
    half = apply_volume(pcm, 0.5)
    assert dbfs(half) == pytest.approx(dbfs(pcm) - 6.02, abs=0.05)
    loud = np.frombuffer(apply_volume(pcm, 4.0), dtype="<i2")
    assert loud.max() == 32767 and loud.min() == -32768  # clipped, not wrapped
    assert apply_volume(pcm, 0.0) == bytes(len(pcm))
    with pytest.raises(ValueError, match="volume"):
        apply_volume(pcm, -1)


def test_levels() -> None:
    full = sine(1000, 1.0, 16000, amplitude=1.0)
    assert dbfs(full) == pytest.approx(-3.01, abs=0.05)
    assert dbfs(bytes(3200)) == float("-inf")
    assert peak_frequency(bytes(3200), 16000) == 0.0


@pytest.mark.parametrize("block", [160, 441, 1000, 4096])
def test_stream_resampler_matches_one_shot(block: int) -> None:
    x = sine(523.25, 2.0, 22050) + sine(2000, 2.0, 22050, amplitude=0.2)
    one_shot = resample(x, 22050, 16000)
    rs = StreamResampler(22050, 16000)
    parts = [rs.process(x[i : i + block]) for i in range(0, x.size, block)]
    parts.append(rs.flush())
    streamed = np.concatenate(parts)
    assert streamed.size == pytest.approx(one_shot.size, abs=2)
    n = min(streamed.size, one_shot.size)
    assert np.max(np.abs(streamed[:n] - one_shot[:n])) < 1e-3
    # No clicks at block edges: the sample-to-sample step never exceeds the signal's own.
    assert np.max(np.abs(np.diff(streamed))) < np.max(np.abs(np.diff(one_shot))) + 1e-3


def test_stream_resampler_stereo_and_reset() -> None:
    x = np.stack([sine(440, 1.0, 48000), sine(880, 1.0, 48000)], axis=1)
    rs = StreamResampler(48000, 16000, channels=2)
    y = np.concatenate([rs.process(x[:24000]), rs.process(x[24000:]), rs.flush()])
    assert y.shape[1] == 2
    assert peak_frequency(y[:, 0], 16000) == pytest.approx(440, abs=2)
    assert peak_frequency(y[:, 1], 16000) == pytest.approx(880, abs=2)
    # After a flush the resampler starts afresh and gives the same output again.
    again = np.concatenate([rs.process(x[:24000]), rs.process(x[24000:]), rs.flush()])
    assert np.allclose(again, y)
