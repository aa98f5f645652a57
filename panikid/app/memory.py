"""Memory of a long-running daemon on a small board: few malloc arenas, and freed buffers handed back."""

from __future__ import annotations

import functools


@functools.cache
def _libc():  # type: ignore[no-untyped-def]
    # Looked up once: find_library runs ldconfig in a subprocess.
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name) if name else None
    except OSError:
        return None


M_ARENA_MAX, M_MMAP_THRESHOLD = -8, -3  # glibc's mallopt parameters
LOW_MEMORY_MMAP_THRESHOLD = 1 << 20


def tune_malloc(low_memory: bool = False, arenas: int = 2) -> bool:
    """Few malloc arenas: model calls run in worker threads, and glibc's default of one
    arena per thread keeps freed memory per thread, so RSS would creep up turn after turn.

    ``low_memory``: every allocation of 1 MiB or more gets its own mapping, returned
    the moment it is freed. By default glibc raises that threshold as large blocks
    are freed and then keeps such blocks in its heap: piper's per-sentence tensors
    pile up there during a reply (measured: daemon peak 640-660 MB by default,
    515-520 MB with this, the price being fresh pages for every large tensor, about
    100 ms more per sentence). True when the setting took effect.
    """
    libc = _libc()
    if libc is None or not hasattr(libc, "mallopt"):
        return False
    libc.mallopt(M_ARENA_MAX, arenas)
    return not low_memory or bool(libc.mallopt(M_MMAP_THRESHOLD, LOW_MEMORY_MMAP_THRESHOLD))


def release_free_memory() -> None:
    """Hand freed memory (Whisper's weight conversion, a turn's buffers) back to the system."""
    libc = _libc()
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)
