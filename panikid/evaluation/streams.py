"""Items concatenated into long input files: the daemon loads its models once per stream.

Each stream starts with a second of silence (the daemon is listening by then)
and holds at most ``max_seconds`` of audio: short enough that no timer set by a
command (twenty minutes or more) can ring before the stream ends, even at
real-time pace. Every segment's times are rewritten to stream seconds.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .render import SAMPLE_RATE, Rendered

LEAD_SECONDS = 1.0
MAX_SECONDS = 600.0
_TIME_KEYS = ("wake_start", "wake_end", "command_start", "command_end")


@dataclass
class Stream:
    name: str
    kind: str  # "positive" or "negative"
    parts: list[np.ndarray] = field(default_factory=list)
    segments: list[dict[str, Any]] = field(default_factory=list)
    samples: int = 0

    @property
    def seconds(self) -> float:
        return self.samples / SAMPLE_RATE

    def append(self, piece: Rendered) -> None:
        start = self.seconds
        meta = dict(piece.meta)
        for key in _TIME_KEYS:
            if meta.get(key) is not None:
                meta[key] = round(start + meta[key], 3)
        meta["start"] = round(start, 3)
        meta["end"] = round(start + len(piece.pcm) / SAMPLE_RATE, 3)
        self.parts.append(piece.pcm)
        self.samples += len(piece.pcm)
        self.segments.append(meta)

    def audio(self) -> np.ndarray:
        return np.concatenate(self.parts)


def pack(pieces: Iterable[Rendered], kind: str, prefix: str, max_seconds: float = MAX_SECONDS) -> Iterator[Stream]:
    """Pieces in order, into as few streams as fit ``max_seconds`` each (each yielded once full,
    so only one stream's audio is held at a time)."""
    lead = np.zeros(int(LEAD_SECONDS * SAMPLE_RATE), dtype=np.int16)
    cur: Stream | None = None
    count = 0
    for piece in pieces:
        if cur is not None and cur.seconds + len(piece.pcm) / SAMPLE_RATE > max_seconds:
            yield cur
            cur = None
        if cur is None:
            cur = Stream(f"{prefix}-{count:03d}", kind, [lead], [], len(lead))
            count += 1
        cur.append(piece)
    if cur is not None:
        yield cur
