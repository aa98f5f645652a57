"""WAV files in and out.

``read_wav`` takes any common WAV (PCM 8/16/24/32-bit, IEEE float 32/64-bit,
WAVE_FORMAT_EXTENSIBLE, 8 to 192 kHz, 1 to 32 channels) and returns 16 kHz mono
s16le, the format of everything inside the pipeline. It parses the RIFF
chunks itself because the standard library's ``wave`` module rejects float
WAVs. The header is read and checked first (rate, channels, sample width, and
a data size the file can hold), before any audio is read or converted: a
corrupt header costs an error message, not the memory of the machine. Every
problem is an ``AudioInputError`` that names the file and the field.

``WavWriter`` writes mono s16le incrementally and keeps the file valid: the
header is rewritten on every ``flush`` and on ``close``.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

import numpy as np

from .convert import downmix, float_to_pcm16, int_to_float, resample

TARGET_RATE = 16000

WAVE_FORMAT_PCM = 0x0001
WAVE_FORMAT_IEEE_FLOAT = 0x0003
WAVE_FORMAT_EXTENSIBLE = 0xFFFE
_FORMAT_NAMES = {0x0002: "MS ADPCM", 0x0006: "A-law", 0x0007: "mu-law", 0x0011: "IMA ADPCM", 0x0055: "MP3"}
_CONVERT_HINT = "convert it with e.g. `sox IN -r 16000 -c 1 -b 16 OUT.wav`"
MIN_RATE, MAX_RATE = 8000, 192000
MAX_CHANNELS = 32
MAX_FMT_BYTES = 1024
"""A fmt chunk is 16 to 40 bytes; anything much larger is not one."""
UNKNOWN_SIZE = 0x7F000000
"""A data size of 0, or of this or more (0x7FFFFFFF, 0xFFFFFFFF), is what writers that stream
(or never finished) leave in the header: the audio then runs to the end of the file."""


class AudioInputError(Exception):
    """An audio input (a WAV file) is missing, unreadable or not usable."""


@dataclass(frozen=True)
class WavInfo:
    """What the file held before conversion."""

    path: str
    sample_rate: int
    channels: int
    bits: int
    encoding: str  # "pcm" or "float"
    frames: int

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate else 0.0


def _sniff(head: bytes) -> str:
    if head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "it looks like an MP3 file"
    if head.startswith(b"fLaC"):
        return "it looks like a FLAC file"
    if head.startswith(b"OggS"):
        return "it looks like an Ogg file"
    if not head:
        return "the file is empty"
    return f"it starts with {head[:12]!r}"


def _invalid(path: Path, what: str) -> AudioInputError:
    return AudioInputError(f"input file {path} is not a valid WAV file: {what}")


@dataclass(frozen=True)
class _Layout:
    fmt: bytes
    data_offset: int
    data_bytes: int


def _scan(f: BinaryIO, path: Path, file_size: int) -> _Layout:
    """Where the fmt and data chunks are, reading chunk headers only."""
    fmt: bytes | None = None
    data: tuple[int, int] | None = None
    pos = 12
    while pos + 8 <= file_size:
        f.seek(pos)
        cid, size = struct.unpack("<4sI", f.read(8))
        body = pos + 8
        available = file_size - body
        if cid == b"fmt " and fmt is None:
            if size > MAX_FMT_BYTES or size > available:
                raise _invalid(path, f"its fmt chunk claims {size} bytes (a fmt chunk has 16 to 40)")
            fmt = f.read(size)
        elif cid == b"data" and data is None:
            if size == 0 or size >= UNKNOWN_SIZE:
                size = available  # a writer that streamed or never finished: up to the end
            elif size > available:
                raise _invalid(path, f"its data chunk claims {size} bytes of audio but the file holds only "
                                     f"{available} after the header (a truncated file or a corrupt header)")
            data = (body, size)
        pos = body + size + (size & 1)
    if fmt is None:
        raise _invalid(path, "it has no fmt chunk")
    if data is None:
        raise _invalid(path, "it has no data chunk")
    return _Layout(fmt, *data)


@dataclass(frozen=True)
class _Format:
    encoding: str
    channels: int
    rate: int
    bits: int
    frame_bytes: int


def _format(path: Path, fmt: bytes) -> _Format:
    """The fmt chunk, checked against what a microphone recording can be."""
    if len(fmt) < 16:
        raise _invalid(path, "its fmt chunk is truncated")
    tag, channels, rate, _, block_align, bits = struct.unpack_from("<HHIIHH", fmt, 0)
    if tag == WAVE_FORMAT_EXTENSIBLE:
        if len(fmt) < 26:
            raise _invalid(path, "truncated extensible header")
        tag = struct.unpack_from("<H", fmt, 24)[0]  # first two bytes of the sub-format GUID
    if not 1 <= channels <= MAX_CHANNELS:
        raise _invalid(path, f"its header says {channels} channel(s); allowed: 1 to {MAX_CHANNELS}")
    if not MIN_RATE <= rate <= MAX_RATE:
        raise _invalid(path, f"its header says a sample rate of {rate} Hz; allowed: {MIN_RATE} to {MAX_RATE} Hz")
    if tag == WAVE_FORMAT_PCM and bits in (8, 16, 24, 32):
        encoding = "pcm"
    elif tag == WAVE_FORMAT_IEEE_FLOAT and bits in (32, 64):
        encoding = "float"
    else:
        what = _FORMAT_NAMES.get(tag, f"format tag 0x{tag:04x}")
        raise AudioInputError(
            f"input file {path} uses an unsupported WAV encoding ({what}, {bits}-bit); "
            f"supported: PCM 8/16/24/32-bit and float 32/64-bit; {_CONVERT_HINT}"
        )
    sample_bytes = bits // 8 * channels
    if block_align not in (0, sample_bytes) and not sample_bytes < block_align <= 8 * channels:
        raise _invalid(path, f"its header says {block_align} byte(s) per frame; {channels} channel(s) of "
                             f"{bits} bits take {sample_bytes}")
    return _Format(encoding, channels, rate, bits, max(block_align, sample_bytes))


def _decode(path: Path, f: _Format, body: bytes) -> tuple[np.ndarray, WavInfo]:
    width = f.bits // 8
    n = len(body) // f.frame_bytes
    raw = body[: n * f.frame_bytes]
    if f.frame_bytes != width * f.channels:  # padded frames: keep the samples only
        raw = np.frombuffer(raw, dtype=np.uint8).reshape(n, f.frame_bytes)[:, : width * f.channels].tobytes()
    if f.encoding == "float":
        x = np.frombuffer(raw, dtype="<f4" if f.bits == 32 else "<f8").astype(np.float32)
        x = np.nan_to_num(x, nan=0.0, posinf=1.0, neginf=-1.0)
    elif f.bits == 8:
        x = (np.frombuffer(raw, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
    elif f.bits == 16:
        x = int_to_float(np.frombuffer(raw, dtype="<i2"), 16)
    elif f.bits == 24:
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        x = int_to_float(np.where(v >= 1 << 23, v - (1 << 24), v), 24)
    else:
        x = int_to_float(np.frombuffer(raw, dtype="<i4"), 32)
    info = WavInfo(str(path), f.rate, f.channels, f.bits, f.encoding, n)
    return x.reshape(n, f.channels), info


def read_wav(path: str | os.PathLike[str]) -> tuple[bytes, WavInfo]:
    """Read a WAV file as 16 kHz mono s16le; ``info`` describes the original."""
    p = Path(path)
    if not p.exists():
        raise AudioInputError(f"input file {p} does not exist")
    if not p.is_file():
        raise AudioInputError(f"input file {p} is not a file")
    try:
        with open(p, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            head = f.read(16)
            if len(head) < 12 or head[:4] not in (b"RIFF", b"RIFX") or head[8:12] != b"WAVE":
                raise AudioInputError(f"input file {p} is not a WAV file ({_sniff(head)}); {_CONVERT_HINT}")
            if head[:4] == b"RIFX":
                raise AudioInputError(
                    f"input file {p} is a big-endian (RIFX) WAV, which is not supported; {_CONVERT_HINT}"
                )
            layout = _scan(f, p, size)
            fmt = _format(p, layout.fmt)  # checked before a byte of audio is read
            f.seek(layout.data_offset)
            body = f.read(layout.data_bytes)
    except OSError as exc:
        raise AudioInputError(f"cannot read input file {p}: {exc.strerror or exc}") from None
    x, info = _decode(p, fmt, body)
    if info.frames == 0:
        raise AudioInputError(f"input file {p} contains no audio (an empty WAV)")
    mono = downmix(x)
    if info.sample_rate != TARGET_RATE:
        mono = resample(mono, info.sample_rate, TARGET_RATE)
    return float_to_pcm16(mono), info


# --------------------------------------------------------------------------- writing

def _header(sample_rate: int, data_bytes: int) -> bytes:
    return struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF", 36 + data_bytes, b"WAVE",
        b"fmt ", 16, WAVE_FORMAT_PCM, 1, sample_rate, sample_rate * 2, 2, 16,
        b"data", data_bytes,
    )


class WavWriter:
    """Write mono s16le audio to a WAV file incrementally; the file stays valid."""

    def __init__(self, path: str | os.PathLike[str], sample_rate: int) -> None:
        if sample_rate < 1:
            raise ValueError(f"sample_rate must be positive, got {sample_rate}")
        self.path = Path(path)
        self.sample_rate = sample_rate
        self.data_bytes = 0
        self._pending = b""  # an odd trailing byte waits for its partner
        self._file = open(self.path, "wb")  # noqa: SIM115 - closed in close()
        self._file.write(_header(sample_rate, 0))
        self._file.flush()

    @property
    def closed(self) -> bool:
        return self._file.closed

    @property
    def duration(self) -> float:
        return self.data_bytes / 2 / self.sample_rate

    def write(self, pcm: bytes) -> None:
        if self._file.closed:
            raise ValueError(f"{self.path} is closed")
        pcm = self._pending + bytes(pcm)
        cut = len(pcm) // 2 * 2
        self._pending = pcm[cut:]
        if cut:
            self._file.write(pcm[:cut])
            self.data_bytes += cut

    def flush(self) -> None:
        """Rewrite the header for the audio written so far and push it to the OS."""
        if self._file.closed:
            return
        self._file.seek(0)
        self._file.write(_header(self.sample_rate, self.data_bytes))
        self._file.seek(0, os.SEEK_END)
        self._file.flush()

    def close(self) -> None:
        if self._file.closed:
            return
        self.flush()
        self._file.close()

    def __enter__(self) -> WavWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def write_wav(path: str | os.PathLike[str], pcm: bytes, sample_rate: int) -> None:
    """Write mono s16le ``pcm`` as a WAV file in one go."""
    with WavWriter(path, sample_rate) as w:
        w.write(pcm)
