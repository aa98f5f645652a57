"""Smart Turn v3.2: does the turn so far sound finished? A semantic end-of-turn score.

Silence alone cannot tell "Set a timer for ..." (a pause to think) from "What time is it?"
(done). Smart Turn v3.2 (Daily / Pipecat, BSD-2-Clause) is a Whisper-tiny encoder with a
classifier head that listens to the last 8 s of the user's turn — words and intonation — and
gives the probability that the turn is complete; Pipecat calls the turn complete above
``THRESHOLD`` (0.5). The model file ships inside the pipecat-ai wheel (installed with
--no-deps and never imported; see models/manifest.toml, role "turn").

The model's input is Whisper's log-mel spectrogram, computed here in numpy (no torch, no
transformers). The recipe is the one Pipecat's ``LocalSmartTurnAnalyzerV3`` feeds the model,
i.e. ``transformers.WhisperFeatureExtractor(chunk_length=8)`` with ``do_normalize=True``:

- 16 kHz mono float audio (s16le / 32768); keep the last 8 s, zero-pad at the start to 8 s;
- zero-mean, unit-variance normalisation of those 8 s (padding included; float32, eps 1e-7);
- STFT: periodic Hann window, n_fft 400, hop 160, reflect padding of 200 at both ends (centred
  frames), power spectrum; 801 frames, the last one dropped -> 800;
- 80 Slaney-scale, Slaney-normalised triangular mel filters from 0 to 8 kHz;
- log10 of max(mel, 1e-10), floored at (its maximum - 8), then (x + 4) / 4.

On noise, silence and speech these features equal transformers' bit for bit (its numpy path),
so the model gives the same probabilities. A call costs the features (~5 ms) and one run
of the 8 MB int8 encoder (~50 ms of one x86 core): run it in a worker thread, not on the event loop.
The model hears hesitation ("set a timer for, um") clearly; a bare unfinished phrase spoken with
a falling, sentence-final voice often still sounds complete to it (tests/test_smart_turn.py).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from ...pipeline.frames import SAMPLE_RATE

WINDOW_SECONDS = 8
WINDOW_SAMPLES = WINDOW_SECONDS * SAMPLE_RATE
N_FFT = 400  # 25 ms
HOP = 160  # 10 ms: 100 frames per second, 800 for the window
N_MELS = 80
THRESHOLD = 0.5  # Pipecat's cut-off: probability above it = the turn is complete
_MEL_FLOOR = 1e-10
_NORM_EPS = 1e-7
_INPUT = "input_features"


# ----------------------------------------------------------------------------- features

def _hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    """Slaney's mel scale: linear below 1 kHz (3 mels per 200 Hz), logarithmic above."""
    hz = np.asarray(hz, dtype=np.float64)
    log_part = 15.0 + np.log(np.maximum(hz, 1e-12) / 1000.0) * (27.0 / np.log(6.4))
    return np.where(hz >= 1000.0, log_part, 3.0 * hz / 200.0)


def _mel_to_hz(mel: np.ndarray | float) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    return np.where(mel >= 15.0, 1000.0 * np.exp((mel - 15.0) * (np.log(6.4) / 27.0)), 200.0 * mel / 3.0)


@lru_cache(maxsize=1)
def _mel_filters() -> np.ndarray:
    """(N_FFT // 2 + 1, N_MELS): triangles between mel-spaced edges, each scaled to unit area (Slaney)."""
    edges = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(SAMPLE_RATE / 2), N_MELS + 2))
    bins = np.linspace(0.0, SAMPLE_RATE // 2, N_FFT // 2 + 1)[:, None]
    low, centre, high = edges[:-2], edges[1:-1], edges[2:]
    rising = (bins - low) / (centre - low)
    falling = (high - bins) / (high - centre)
    return np.maximum(0.0, np.minimum(rising, falling)) * (2.0 / (high - low))


@lru_cache(maxsize=1)
def _hann() -> np.ndarray:
    """Periodic Hann window (torch.hann_window's), computed the way transformers does it."""
    return np.hanning(N_FFT + 1)[:-1]


def log_mel(audio: np.ndarray) -> np.ndarray:
    """Whisper's log-mel spectrogram of 16 kHz float audio: float32, shape (80, len(audio) // 160).

    No padding, truncation or normalisation of the audio: ``features`` does those first. The
    precision of each step follows transformers' numpy code (the spectrum is kept as complex64,
    the log is rounded to float32 before the floor and scaling): the int8 model turns even
    one-ulp differences in its input into visible steps in its output.
    """
    x = np.asarray(audio, dtype=np.float64)
    if x.ndim != 1 or x.size < N_FFT // 2 + 1:
        raise ValueError(f"log_mel needs 1-D audio of at least {N_FFT // 2 + 1} samples, got shape {x.shape}")
    padded = np.pad(x, N_FFT // 2, mode="reflect")  # centred frames, as torch.stft(center=True)
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP]
    spectrum = np.fft.rfft(frames * _hann(), axis=-1).astype(np.complex64)  # (frames, 201)
    power = np.abs(spectrum, dtype=np.float64) ** 2
    mel = np.maximum(_MEL_FLOOR, np.dot(_mel_filters().T, power.T))
    log = np.log10(mel).astype(np.float32)[:, :-1]  # Whisper drops the last frame
    log = np.maximum(log, log.max() - 8.0)
    return (log + 4.0) / 4.0


def turn_window(audio: np.ndarray) -> np.ndarray:
    """The last 8 s of the turn, zero-padded at the start when shorter (float32)."""
    x = np.asarray(audio, dtype=np.float32)[-WINDOW_SAMPLES:]
    return np.pad(x, (WINDOW_SAMPLES - x.size, 0))


def normalize(audio: np.ndarray) -> np.ndarray:
    """Zero mean, unit variance (WhisperFeatureExtractor's do_normalize): the level does not matter."""
    x = np.asarray(audio, dtype=np.float32)
    return (x - x.mean()) / np.sqrt(x.var() + _NORM_EPS)


def features(audio: np.ndarray) -> np.ndarray:
    """The model's input for a turn of 16 kHz float audio in [-1, 1]: float32, shape (80, 800)."""
    return log_mel(normalize(turn_window(audio)))


def pcm16_to_float(pcm16: bytes) -> np.ndarray:
    return np.frombuffer(pcm16, dtype="<i2").astype(np.float32) / 32768.0


# ----------------------------------------------------------------------------- model

class SmartTurnModel:
    """Smart Turn v3.2 on onnxruntime (CPU).

    Stateless: every call scores the audio it is given, so there is nothing to reset between
    turns, and calls from several threads are safe (onnxruntime sessions allow concurrent runs).
    Each call blocks for one inference; the caller runs it in a worker thread.
    """

    def __init__(self, path: Path, threads: int = 1) -> None:
        import onnxruntime

        opts = onnxruntime.SessionOptions()
        opts.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        opts.inter_op_num_threads = 1
        opts.intra_op_num_threads = threads
        opts.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        try:
            self._session = onnxruntime.InferenceSession(
                str(path), providers=["CPUExecutionProvider"], sess_options=opts
            )
        except Exception as exc:  # onnxruntime raises its own exception types for unreadable models
            raise ValueError(f"{path}: not a loadable ONNX model ({exc})") from exc
        inputs = {i.name: i.shape for i in self._session.get_inputs()}
        if list(inputs.get(_INPUT, []))[1:] != [N_MELS, WINDOW_SECONDS * SAMPLE_RATE // HOP]:
            raise ValueError(f"{path}: not a Smart Turn v3 model (inputs {inputs}, expected "
                             f"{_INPUT!r} of shape [batch, {N_MELS}, 800])")
        self.path = path

    def probability(self, pcm16: bytes) -> float:
        """Probability that the turn is complete, from the turn so far (16 kHz mono s16le).

        Give it the whole turn, from just before the speech started to now (Pipecat adds 0.5 s
        before the speech and asks after 0.2 s of silence); only the last 8 s are used.
        """
        whole = pcm16[: len(pcm16) - len(pcm16) % 2]  # a stray half sample at the end is dropped
        audio = pcm16_to_float(whole[-WINDOW_SAMPLES * 2:])
        (out,) = self._session.run(None, {_INPUT: features(audio)[None]})
        return float(np.clip(np.asarray(out).reshape(-1)[0], 0.0, 1.0))

    def is_complete(self, pcm16: bytes, threshold: float = THRESHOLD) -> bool:
        return self.probability(pcm16) > threshold
