"""A room for the echo tests: what the virtual speaker plays comes back into the virtual microphone.

``parec`` records the speaker sink's monitor, this process filters it as a room would (a delay, an
attenuation, a reverberant tail with RT60 about 0.3 s) and ``pacat`` plays it into the microphone sink, in
20 ms blocks, on the sound server's clock. Everything that reached the microphone this way is also written
to ``echo.raw`` (16 kHz mono s16le), so a test can tell how much echo there was.

    python room.py DIR DELAY_S GAIN_DB      (PULSE_SERVER in the environment)
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

RATE = 16000
BLOCK = 320


def impulse_response(delay_s: float, gain_db: float, seed: int = 5) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(0.3 * RATE)
    d = int(delay_s * RATE)
    h = np.zeros(d + n)
    h[d] = 1.0
    h[d + 1:] = rng.standard_normal(n - 1) * np.exp(-6.9 * np.arange(1, n) / n) * 0.05
    return h * 10 ** (gain_db / 20)


def main(out_dir: str, delay_s: str, gain_db: str) -> None:
    h = impulse_response(float(delay_s), float(gain_db))
    rec = subprocess.Popen(["parec", "--device=vspk.monitor", f"--rate={RATE}", "--channels=1", "--format=s16le",
                            "--raw", "--latency-msec=20"], stdout=subprocess.PIPE)
    play = subprocess.Popen(["pacat", "--playback", "--device=vmicsink", f"--rate={RATE}", "--channels=1",
                             "--format=s16le", "--raw", "--latency-msec=20"], stdin=subprocess.PIPE)
    assert rec.stdout is not None and play.stdin is not None
    tail = np.zeros(h.size - 1)
    with open(Path(out_dir) / "echo.raw", "wb") as log:
        while True:
            data = rec.stdout.read(2 * BLOCK)
            if len(data) < 2 * BLOCK:
                break
            x = np.frombuffer(data, dtype="<i2").astype(np.float64)
            y = np.convolve(x, h)
            y[: tail.size] += tail
            out, tail = y[:BLOCK], np.concatenate([y[BLOCK:], np.zeros(BLOCK)])[: h.size - 1]
            pcm = np.clip(np.rint(out), -32768, 32767).astype("<i2").tobytes()
            play.stdin.write(pcm)
            play.stdin.flush()
            log.write(pcm)


if __name__ == "__main__":
    main(*sys.argv[1:4])
