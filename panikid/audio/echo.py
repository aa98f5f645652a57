"""The echo canceller's far end: exactly what the speaker plays, in step with what the microphone captures.

The playback callback hands every block it gives the device to ``EchoReference.played`` (the device's
rate and channels, zeros while nothing plays), on PortAudio's thread. The capture side asks for as many
16 kHz mono samples as each microphone frame has (``take``): the blocks are converted in order and the
newest ones are used, so the reference runs just ahead of the echo of it (the echo reaches the microphone
after the output and input latencies and the room: the canceller finds that delay itself, up to ~500 ms).

The two streams run on their own clocks: when the reference piles up (clock drift, a stall of the capture)
it is cut back to the newest audio (``realigned``); when it runs short (the speaker stalled) silence fills
in (``short``). Both change the delay once, and the canceller follows.
"""

from __future__ import annotations

import threading
import time

import numpy as np

from .convert import StreamResampler, downmix, pcm16_to_float

RATE = 16000
KEEP_SECONDS = 0.04
"""What is kept beyond one capture frame when the reference is aligned: the playback's block jitter."""
MAX_AHEAD_SECONDS = 0.2
"""More reference than this beyond one frame means the clocks drifted apart: align again."""
MAX_RAW_SECONDS = 2.0
MIN_MEASURED_SECONDS = 1.0
MAX_REDUCTION_DB = 60.0
"""The reduction reported when nothing of the echo was left (the front end's output was silence)."""
PLAYING_HOLD_SECONDS = 0.5
"""The speaker counts as playing this long after its last sound: the device's latency and the room's tail."""


class EchoReference:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._raw: list[bytes] = []
        self._raw_bytes = 0
        self._format = (RATE, 1)
        self._resampler: StreamResampler | None = None
        self._fifo = np.zeros(0, dtype=np.float32)
        self._aligned = False
        self.realigned = 0
        self.short = 0
        self._last_sound = float("-inf")
        self._before = self._after = 0.0  # the microphone's energy before and after the front end, while playing
        self._measured = 0

    def set_format(self, rate: int, channels: int) -> None:
        """The playback device's format (when it is opened, or reopened)."""
        with self._lock:
            self._format = (rate, channels)
            self._raw.clear()
            self._raw_bytes = 0
            self._resampler = None
            self._fifo = np.zeros(0, dtype=np.float32)
            self._aligned = False

    def played(self, block: bytes) -> None:
        """A block the device was given (PortAudio's thread: only a copy and a lock)."""
        with self._lock:
            rate, channels = self._format
            self._raw.append(block)
            if block.strip(b"\0"):
                self._last_sound = time.monotonic()
            self._raw_bytes += len(block)
            limit = int(MAX_RAW_SECONDS * rate) * 2 * channels
            while self._raw_bytes > limit and len(self._raw) > 1:
                self._raw_bytes -= len(self._raw.pop(0))

    @property
    def playing(self) -> bool:
        """The speaker is playing sound, or was within ``PLAYING_HOLD_SECONDS``."""
        return time.monotonic() - self._last_sound < PLAYING_HOLD_SECONDS

    def note_reduction(self, before: np.ndarray, after: np.ndarray) -> None:
        """The microphone's audio before and after the front end, captured while the speaker played."""
        self._before += float(np.sum(before.astype(np.float64) ** 2))
        self._after += float(np.sum(after.astype(np.float64) ** 2))
        self._measured += before.size

    def take_reduction_db(self) -> float | None:
        """How much quieter the front end made the microphone while the speaker played, in dB, since the
        last call (None: less than MIN_MEASURED_SECONDS of it, or silence; at most MAX_REDUCTION_DB)."""
        before, after, n = self._before, self._after, self._measured
        self._before = self._after = 0.0
        self._measured = 0
        if n < MIN_MEASURED_SECONDS * RATE or before <= 0:
            return None
        return round(10 * float(np.log10(before / max(after, before * 10 ** (-MAX_REDUCTION_DB / 10)))), 1)

    def take(self, n: int) -> np.ndarray:
        """``n`` samples of reference (int16, 16 kHz mono) for a capture frame of ``n`` samples."""
        with self._lock:
            blocks, self._raw = self._raw, []
            self._raw_bytes = 0
            rate, channels = self._format
        if blocks:
            x = pcm16_to_float(b"".join(blocks), channels)
            x = downmix(x) if channels > 1 else x
            if rate != RATE:
                if self._resampler is None:
                    self._resampler = StreamResampler(rate, RATE)
                x = self._resampler.process(x)
            self._fifo = np.concatenate([self._fifo, x.astype(np.float32)])
        keep = n + int(KEEP_SECONDS * RATE)
        first = not self._aligned
        if not self._aligned or self._fifo.size > n + int(MAX_AHEAD_SECONDS * RATE):
            if self._aligned:
                self.realigned += 1
            self._aligned = True
            self._fifo = self._fifo[-keep:]
        out = self._fifo[:n]
        self._fifo = self._fifo[n:]
        if out.size < n:
            self.short += 0 if first else 1  # the first frame may find the resampler still filling
            out = np.concatenate([out, np.zeros(n - out.size, dtype=np.float32)])
        return np.clip(np.rint(out * 32768.0), -32768, 32767).astype(np.int16)
