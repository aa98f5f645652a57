"""read_wav: validation and conversion to 16 kHz mono; WavWriter keeps files valid."""

from __future__ import annotations

import shutil
import struct
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest

from panikid.audio.convert import float_to_pcm16, peak_frequency, sine
from panikid.audio.wav import AudioInputError, WavWriter, read_wav, write_wav


def _riff(fmt_tag: int, channels: int, rate: int, bits: int, data: bytes, extensible: bool = False) -> bytes:
    block = channels * bits // 8
    if extensible:
        guid = struct.pack("<H", fmt_tag) + b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
        fmt = struct.pack("<HHIIHHHHI", 0xFFFE, channels, rate, rate * block, block, bits, 22, bits, 0) + guid
    else:
        fmt = struct.pack("<HHIIHH", fmt_tag, channels, rate, rate * block, block, bits)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"LIST" + struct.pack("<I", 4) + b"INFO"  # an extra chunk to skip
    body += b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _tone(rate: int, seconds: float = 1.0, freq: float = 440.0) -> np.ndarray:
    return sine(freq, seconds, rate, amplitude=0.5)


def _check_tone(pcm: bytes, seconds: float, freq: float = 440.0) -> None:
    assert len(pcm) / 2 / 16000 == pytest.approx(seconds, abs=0.002)
    assert peak_frequency(pcm, 16000) == pytest.approx(freq, abs=2)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.wav"
    with pytest.raises(AudioInputError, match=f"input file {path} does not exist"):
        read_wav(path)


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(AudioInputError, match="is not a file"):
        read_wav(tmp_path)


def test_text_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.wav"
    path.write_text("hello, this is not audio\n")
    with pytest.raises(AudioInputError, match=r"notes\.wav is not a WAV file"):
        read_wav(path)


def test_mp3_file(tmp_path: Path) -> None:
    path = tmp_path / "song.mp3"
    path.write_bytes(b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(200))
    with pytest.raises(AudioInputError, match=r"song\.mp3 is not a WAV file \(it looks like an MP3"):
        read_wav(path)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "zero.wav"
    path.write_bytes(b"")
    with pytest.raises(AudioInputError, match="is not a WAV file"):
        read_wav(path)


def test_empty_wav(tmp_path: Path) -> None:
    path = tmp_path / "empty.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
    with pytest.raises(AudioInputError, match=r"empty\.wav contains no audio"):
        read_wav(path)


def test_unsupported_encoding(tmp_path: Path) -> None:
    path = tmp_path / "alaw.wav"
    path.write_bytes(_riff(0x0006, 1, 8000, 8, bytes(800)))
    with pytest.raises(AudioInputError, match=r"alaw\.wav uses an unsupported WAV encoding \(A-law"):
        read_wav(path)


def test_16k_mono_is_bit_exact(tmp_path: Path) -> None:
    pcm = float_to_pcm16(_tone(16000))
    path = tmp_path / "a.wav"
    write_wav(path, pcm, 16000)
    out, info = read_wav(path)
    assert out == pcm
    assert (info.sample_rate, info.channels, info.bits, info.encoding) == (16000, 1, 16, "pcm")
    assert info.duration == pytest.approx(1.0)


def test_stereo_44k1_is_converted(tmp_path: Path) -> None:
    left = _tone(44100, 1.5)
    stereo = np.stack([left, left], axis=1)
    path = tmp_path / "stereo.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(44100)
        w.writeframes(float_to_pcm16(stereo))
    pcm, info = read_wav(path)
    assert (info.sample_rate, info.channels) == (44100, 2)
    _check_tone(pcm, 1.5)


@pytest.mark.parametrize("extensible", [False, True])
def test_float32_48k_is_converted(tmp_path: Path, extensible: bool) -> None:
    x = np.stack([_tone(48000, 0.8), _tone(48000, 0.8)], axis=1)
    path = tmp_path / "float.wav"
    path.write_bytes(_riff(3, 2, 48000, 32, x.astype("<f4").tobytes(), extensible=extensible))
    with pytest.raises(wave.Error):  # what the standard library makes of it
        wave.open(str(path), "rb")
    pcm, info = read_wav(path)
    assert (info.encoding, info.bits, info.sample_rate) == ("float", 32, 48000)
    _check_tone(pcm, 0.8)


@pytest.mark.parametrize("bits", [8, 24, 32])
def test_other_integer_widths(tmp_path: Path, bits: int) -> None:
    x = _tone(22050, 0.5, freq=1000.0).astype(np.float64)
    if bits == 8:
        data = np.clip(np.rint(x * 128 + 128), 0, 255).astype(np.uint8).tobytes()
    elif bits == 24:
        v = np.rint(x * (1 << 23)).astype(np.int32)
        data = b"".join(int(s).to_bytes(3, "little", signed=True) for s in v)
    else:
        data = np.rint(x * (1 << 31)).astype("<i4").tobytes()
    path = tmp_path / f"int{bits}.wav"
    path.write_bytes(_riff(1, 1, 22050, bits, data))
    pcm, info = read_wav(path)
    assert info.bits == bits
    _check_tone(pcm, 0.5, freq=1000.0)
    expected = float_to_pcm16(x.astype(np.float32))
    # Compare with the 16-bit original after the same resampling: the level survives.
    got = np.frombuffer(pcm, dtype="<i2").astype(float)
    assert np.sqrt(np.mean(got**2)) == pytest.approx(
        np.sqrt(np.mean(np.frombuffer(expected, dtype="<i2").astype(float) ** 2)), rel=0.03
    )


@pytest.mark.skipif(shutil.which("sox") is None, reason="sox is not installed")
def test_wav_made_by_sox(tmp_path: Path) -> None:
    path = tmp_path / "sox.wav"
    subprocess.run(
        ["sox", "-n", "-r", "48000", "-c", "2", "-b", "24", str(path), "synth", "0.7", "sine", "660"],
        check=True,
    )
    pcm, info = read_wav(path)
    assert (info.sample_rate, info.channels, info.bits) == (48000, 2, 24)
    _check_tone(pcm, 0.7, freq=660.0)


def test_wav_writer_flush_leaves_a_valid_file(tmp_path: Path) -> None:
    path = tmp_path / "out.wav"
    w = WavWriter(path, 22050)
    first = float_to_pcm16(_tone(22050, 0.5))
    w.write(first[:1001])  # an odd number of bytes: the last one waits for its partner
    w.write(first[1001:])
    w.flush()
    # Not closed: another reader sees a valid WAV with everything flushed so far.
    with wave.open(str(path), "rb") as r:
        assert (r.getframerate(), r.getnchannels(), r.getsampwidth()) == (22050, 1, 2)
        assert r.readframes(r.getnframes()) == first
    pcm, info = read_wav(path)
    assert info.frames == len(first) // 2
    _check_tone(pcm, 0.5)
    # More audio written after the flush, then the writer is abandoned (a crash):
    w.write(float_to_pcm16(_tone(22050, 0.5)))
    w._file.flush()  # what the OS would hold
    pcm2, info2 = read_wav(path)
    assert info2.frames == len(first) // 2  # the header still describes a valid prefix
    w.close()
    pcm3, info3 = read_wav(path)
    assert info3.duration == pytest.approx(1.0, abs=0.001)
    assert w.closed


def test_wav_writer_without_flush_is_still_readable(tmp_path: Path) -> None:
    path = tmp_path / "crash.wav"
    w = WavWriter(path, 16000)
    pcm = float_to_pcm16(_tone(16000, 0.3))
    w.write(pcm)
    w._file.flush()  # data reached the file, the header was never updated
    out, info = read_wav(path)
    assert out == pcm
    w.close()


# --------------------------------------------------------------------------- broken headers, through the CLI

def _header_says(tmp_path: Path, name: str, rate: int = 16000, channels: int = 1, bits: int = 16,
                 data_size: int | None = None, audio_bytes: int = 32000, block: int | None = None) -> Path:
    """A WAV whose header says what it is told to, followed by ``audio_bytes`` of (silent) audio."""
    block = channels * bits // 8 if block is None else block
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * block & 0xFFFFFFFF, block, bits)
    size = audio_bytes if data_size is None else data_size
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", size)
    path = tmp_path / name
    path.write_bytes(b"RIFF" + struct.pack("<I", (len(body) + audio_bytes) & 0xFFFFFFFF) + body
                     + bytes(audio_bytes))
    return path


@pytest.mark.parametrize(("header", "words"), [
    ({"rate": 1}, "sample rate of 1 Hz; allowed: 8000 to 192000 Hz"),
    ({"rate": 4_294_967_295}, "sample rate of 4294967295 Hz; allowed: 8000 to 192000 Hz"),
    ({"rate": 7999}, "sample rate of 7999 Hz"),
    ({"data_size": 2 * 10**9}, "its data chunk claims 2000000000 bytes of audio but the file holds only 32000"),
    ({"channels": 0}, "0 channel(s); allowed: 1 to 32"),
    ({"channels": 33, "audio_bytes": 66 * 100}, "33 channel(s); allowed: 1 to 32"),
    ({"block": 1}, "1 byte(s) per frame; 1 channel(s) of 16 bits take 2"),
    ({"block": 40}, "40 byte(s) per frame; 1 channel(s) of 16 bits take 2"),
])
def test_a_header_out_of_bounds_is_a_clear_error_before_any_audio_is_read(tmp_path: Path, header: dict,
                                                                        words: str) -> None:
    from daemons import run_cli

    path = _header_says(tmp_path, "broken.wav", **header)
    with pytest.raises(AudioInputError, match="not a valid WAV file") as info:
        read_wav(path)
    assert str(path) in str(info.value) and words in str(info.value)
    for args in (["transcribe", str(path)], ["run", "--input", str(path), "--events", "-"]):
        res = run_cli(*args, timeout=120)
        assert res.code == 1, (args, res.code, res.stderr[-2000:])
        assert "Traceback" not in res.stderr and words in res.stderr and str(path) in res.stderr


def test_sizes_left_by_streaming_writers_still_read_to_the_end(tmp_path: Path) -> None:
    for size in (0, 0x7FFFFFFF, 0xFFFFFFFF):
        pcm, info = read_wav(_header_says(tmp_path, f"stream-{size}.wav", data_size=size))
        assert info.frames == 16000 and len(pcm) == 32000
    pcm, info = read_wav(_header_says(tmp_path, "stereo-192k.wav", rate=192000, channels=2, audio_bytes=768000))
    assert info.sample_rate == 192000 and info.frames == 192000 and len(pcm) == 32000
