"""Fixed-size chunks of a stream (pure): what the wake word, VAD and the input transport all need."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from panikid.audio.chunker import Chunker


def pcm(n: int, start: int = 0) -> bytes:
    return b"".join((start + i).to_bytes(2, "little", signed=False) for i in range(n))


def test_chunks_carry_the_remainder_and_know_where_they_end() -> None:
    c = Chunker(4)
    assert c.push_with_ends(pcm(6)) == [(4, pcm(4))]
    assert c.pending == 4  # two samples carried
    # the carried chunk ends 2 samples into the next block
    assert c.push_with_ends(pcm(6, 6)) == [(2, pcm(4, 4)), (6, pcm(4, 8))]
    assert c.flush_padded() is None


def test_the_end_of_the_stream_is_padded_with_silence() -> None:
    c = Chunker(4)
    c.push(pcm(5))
    assert c.flush_padded() == pcm(1, 4) + bytes(6)
    assert c.pending == 0 and c.flush_padded() is None


@given(st.lists(st.integers(0, 50), max_size=30), st.integers(1, 16))
def test_any_blocks_give_the_same_chunks_as_one_block(sizes: list[int], samples: int) -> None:
    data = pcm(sum(sizes))
    c, whole = Chunker(samples), Chunker(samples)
    out, pos = [], 0
    for n in sizes:
        out += c.push(data[pos : pos + 2 * n])
        pos += 2 * n
    assert out == whole.push(data)
    assert c.pending == whole.pending
