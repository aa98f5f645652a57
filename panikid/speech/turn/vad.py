"""Voice activity detectors: webrtcvad (default) and Silero (onnx from faster-whisper).

Each engine has a fixed frame length and answers ``is_speech(pcm)`` for one
frame of 16 kHz mono s16le (``panikid.audio.chunker.Chunker`` cuts a stream into such frames).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from ...pipeline.frames import SAMPLE_RATE


class VadEngine(Protocol):
    frame_samples: int
    heavy: bool
    """True when a frame costs enough to belong in a worker thread."""

    def is_speech(self, pcm: bytes) -> bool: ...

    def reset(self) -> None: ...


class WebRtcVad:
    frame_samples = 480  # 30 ms
    heavy = False

    def __init__(self, aggressiveness: int = 2) -> None:
        import webrtcvad

        self._vad = webrtcvad.Vad(aggressiveness)

    def is_speech(self, pcm: bytes) -> bool:
        return bool(self._vad.is_speech(pcm, SAMPLE_RATE))

    def reset(self) -> None:
        pass


class SileroVad:
    """Silero VAD v6, streaming: 512-sample chunks with 64 samples of context and LSTM state."""

    frame_samples = 512  # 32 ms
    heavy = True
    _CONTEXT = 64

    def __init__(self, model_path: Path, threshold: float = 0.5) -> None:
        import onnxruntime

        opts = onnxruntime.SessionOptions()
        opts.inter_op_num_threads = 1
        opts.intra_op_num_threads = 1
        opts.log_severity_level = 4
        self._session = onnxruntime.InferenceSession(
            str(model_path), providers=["CPUExecutionProvider"], sess_options=opts
        )
        self.threshold = threshold
        self.reset()

    def reset(self) -> None:
        self._h = np.zeros((1, 1, 128), dtype=np.float32)
        self._c = np.zeros((1, 1, 128), dtype=np.float32)
        self._context = np.zeros(self._CONTEXT, dtype=np.float32)

    def probability(self, pcm: bytes) -> float:
        audio = np.frombuffer(pcm, dtype=np.int16).astype(np.float32) / 32768.0
        x = np.concatenate([self._context, audio])[None, :]
        out, self._h, self._c = self._session.run(None, {"input": x, "h": self._h, "c": self._c})
        self._context = audio[-self._CONTEXT :]
        return float(np.asarray(out).reshape(-1)[0])

    def is_speech(self, pcm: bytes) -> bool:
        return self.probability(pcm) >= self.threshold
