"""Test speech, made on the device with piper (the project's own voice).

piper's output is random unless onnxruntime is seeded before the voice loads,
and seeding only works once per process, so phrases are synthesized in a fresh
process: ``python -m panikid.devtools.fixtures "text" out.wav`` for one phrase, or
``python -m panikid.devtools.fixtures --batch JOB.json`` for many phrases with one seed
and speaking rate (the output is then fixed by the seed and the order of the
phrases; a process per phrase would cost ~1.5 s each). Used by the tests, by
``panikid bench`` and by ``panikid eval``; nothing is downloaded.

The wake phrase is spelled "okay nah-boo": piper's rendition of that spelling
triggers microWakeWord's okay_nabu reliably.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import wave
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..audio import SAMPLE_RATE

WAKE_PHRASE = "Okay nah-boo."


def synthesize(text: str, out: Path, seed: int = 1234) -> Path:
    """Speak ``text`` into a 16 kHz mono WAV (runs piper in a fresh process)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "panikid.devtools.fixtures", text, str(out), str(seed)],
        check=True, capture_output=True, timeout=120,
    )
    return out


def synthesize_many(phrases: Sequence[tuple[str, Path]], seed: int = 1234, length_scale: float = 1.0,
                    job_dir: Path | None = None) -> list[Path]:
    """Speak each (text, out) pair into a 16 kHz mono WAV, all in one fresh piper process.

    The audio depends on ``seed``, ``length_scale`` and the order of ``phrases``.
    """
    if not phrases:
        return []
    outs = [out for _text, out in phrases]
    job_dir = job_dir or outs[0].parent
    job_dir.mkdir(parents=True, exist_ok=True)
    for out in outs:
        out.parent.mkdir(parents=True, exist_ok=True)
    job = {"seed": seed, "length_scale": length_scale, "phrases": [[text, str(out)] for text, out in phrases]}
    key = hashlib.sha256(json.dumps(job).encode()).hexdigest()[:12]
    job_file = job_dir / f"piper-job-{key}.json"
    job_file.write_text(json.dumps(job), encoding="utf-8")
    try:
        subprocess.run(
            [sys.executable, "-m", "panikid.devtools.fixtures", "--batch", str(job_file)],
            check=True, capture_output=True, timeout=120 + 10 * len(phrases),
        )
    finally:
        job_file.unlink(missing_ok=True)
    return outs


def cached_speech(text: str, cache_dir: Path, seed: int = 1234) -> Path:
    key = hashlib.sha256(f"{text}|{seed}".encode()).hexdigest()[:16]
    path = cache_dir / f"speech-{key}.wav"
    if not path.exists():
        tmp = path.with_suffix(".tmp.wav")
        synthesize(text, tmp, seed)
        os.replace(tmp, path)
    return path


def read_pcm(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as w:
        assert w.getframerate() == SAMPLE_RATE and w.getnchannels() == 1 and w.getsampwidth() == 2
        return np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)


def write_pcm(path: Path, samples: np.ndarray, rate: int = SAMPLE_RATE) -> Path:
    """Write 16-bit ``samples`` as a WAV: mono, or one column per channel (``samples[frame, channel]``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1 if samples.ndim == 1 else samples.shape[1])
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.astype("<i2").tobytes())
    return path


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * SAMPLE_RATE), dtype=np.int16)


def room_noise(seconds: float, level: float = 60.0, seed: int = 1) -> np.ndarray:
    """A quiet room (no speech, no wake word): white noise of standard deviation ``level``, 16-bit."""
    rng = np.random.default_rng(seed)
    return rng.normal(0, level, int(seconds * SAMPLE_RATE)).clip(-32768, 32767).astype(np.int16)


def compose(out: Path, parts: list[np.ndarray | float]) -> Path:
    """Concatenate speech arrays and silences (floats, in seconds) into one WAV."""
    chunks = [silence(p) if isinstance(p, (int, float)) else p for p in parts]
    return write_pcm(out, np.concatenate(chunks))


def utterance(cache_dir: Path, command: str, wake: bool = True, pause: float = 0.0,
              lead: float = 1.0, tail: float = 1.5, name: str | None = None) -> Path:
    """[lead silence] [wake phrase] [pause] command [tail silence] as one WAV.

    With ``pause=0`` and the wake phrase spoken in the same breath as the command.
    """
    if wake and pause == 0.0:
        speech = read_pcm(cached_speech(f"Okay nah-boo {command}", cache_dir))
        parts: list[np.ndarray | float] = [lead, speech, tail]
    elif wake:
        parts = [lead, read_pcm(cached_speech(WAKE_PHRASE, cache_dir)), pause,
                 read_pcm(cached_speech(command, cache_dir)), tail]
    else:
        parts = [lead, read_pcm(cached_speech(command, cache_dir)), tail]
    key = hashlib.sha256(f"{command}|{wake}|{pause}|{lead}|{tail}".encode()).hexdigest()[:12]
    return compose(cache_dir / (name or f"utt-{key}.wav"), parts)


def _piper(seed: int, length_scale: float = 1.0) -> Any:
    import onnxruntime

    onnxruntime.set_seed(seed)  # before the voice loads, or the output is random

    from .. import models
    from ..config import ModelsConfig
    from ..speech.tts.piper import PiperEngine

    return PiperEngine(models.resolve("tts", "en_US-joe-medium", ModelsConfig()), length_scale=length_scale)


def _speak(engine: Any, text: str, out: Path) -> None:
    import soxr

    audio = np.frombuffer(engine.synthesize_all(text), dtype=np.int16).astype(np.float32)
    resampled = soxr.resample(audio, engine.sample_rate, SAMPLE_RATE)
    tmp = out.with_suffix(".part.wav")
    write_pcm(tmp, np.clip(resampled, -32768, 32767))
    os.replace(tmp, out)  # a killed run never leaves a truncated file under the final name


def _main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "--batch":
        job = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
        engine = _piper(int(job["seed"]), float(job.get("length_scale", 1.0)))
        for text, out in job["phrases"]:
            _speak(engine, text, Path(out))
        return 0
    if len(argv) not in (2, 3):
        print("usage: python -m panikid.devtools.fixtures TEXT OUT.WAV [SEED]\n"
              "       python -m panikid.devtools.fixtures --batch JOB.json", file=sys.stderr)
        return 2
    text, out = argv[0], Path(argv[1])
    seed = int(argv[2]) if len(argv) == 3 else 1234
    _speak(_piper(seed), text, out)
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
