"""Fixed-size chunks of a stream of 16-bit audio, the remainder carried to the next call (pure).

Every consumer of a stream needs its own block length (the wake word engines 10 or 80 ms, VAD 30 or 32
ms, the input transport ``audio.frame_ms``), and the stream arrives in blocks of any size.
"""

from __future__ import annotations


class Chunker:
    def __init__(self, samples: int, channels: int = 1) -> None:
        if samples <= 0:
            raise ValueError(f"a chunk must hold at least one sample, got {samples}")
        self.step = samples * 2 * channels
        self._pending = b""

    @property
    def pending(self) -> int:
        """Bytes carried over, waiting for the rest of their chunk."""
        return len(self._pending)

    def push(self, pcm: bytes) -> list[bytes]:
        """The whole chunks ``pcm`` completes, in order."""
        return [chunk for _end, chunk in self.push_with_ends(pcm)]

    def push_with_ends(self, pcm: bytes) -> list[tuple[int, bytes]]:
        """(end, chunk) pairs: ``end`` is where the chunk ends, in samples from the start of ``pcm``
        (a chunk that began in an earlier call ends there too; its start was carried over)."""
        data = self._pending + pcm
        carried = len(self._pending) // 2
        usable = len(data) - len(data) % self.step
        chunks = [((i + self.step) // 2 - carried, data[i : i + self.step]) for i in range(0, usable, self.step)]
        self._pending = data[usable:]
        return chunks

    def flush_padded(self) -> bytes | None:
        """The end of the stream: what was carried over, padded with silence to a whole chunk (None if nothing)."""
        rest, self._pending = self._pending, b""
        return rest + bytes(self.step - len(rest)) if rest else None

    def reset(self) -> None:
        self._pending = b""
