"""Wake word engines: microWakeWord and openWakeWord behind one small interface.

An engine takes 16 kHz mono s16le audio and returns the scores it computed, each
with the sample offset (within the audio given) where that score's window ends,
so detections can be placed exactly in the stream. Engines are not thread-safe:
the wake processor calls them from its single worker thread.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ...audio.chunker import Chunker
from ...config import ModelsConfig
from ...pipeline.frames import SAMPLE_RATE


class WakeModelError(Exception):
    """A wake word model could not be found or loaded."""


@dataclass(frozen=True)
class Score:
    model: str
    end_sample: int
    """Offset (in samples, within the audio passed to ``process``) where the window ends."""
    score: float


class WakeEngine(Protocol):
    name: str
    default_threshold: float

    def process(self, pcm: bytes) -> list[Score]: ...

    def reset(self) -> None: ...


class MicroWakeWordEngine:
    """microWakeWord (pymicro-wakeword): ~0.02 ms of CPU per 10 ms of audio."""

    CHUNK = 160  # 10 ms: one feature window per call keeps offsets exact

    def __init__(self, config_json: Path) -> None:
        from pymicro_wakeword import MicroWakeWord, MicroWakeWordFeatures

        try:
            self._model = MicroWakeWord.from_config(config_json)
        except (OSError, KeyError, ValueError, json.JSONDecodeError) as exc:
            raise WakeModelError(f"cannot load microWakeWord model {config_json}: {exc}") from exc
        self._features = MicroWakeWordFeatures()
        self.name = self._model.id
        self.default_threshold = float(self._model.probability_cutoff)
        self._calls = 0
        self._chunker = Chunker(self.CHUNK)

    def process(self, pcm: bytes) -> list[Score]:
        out: list[Score] = []
        for end, chunk in self._chunker.push_with_ends(pcm):
            for feats in self._features.process_streaming(chunk):
                self._calls += 1
                prob = self._model.process_streaming_prob(feats)
                # The model evaluates every ``stride``-th feature window and answers
                # 0.0 in between: only report real evaluations.
                if prob is None or self._calls % self._model.stride != 0:
                    continue
                out.append(Score(self.name, end, float(prob)))
        return out

    def reset(self) -> None:
        self._features.reset()
        self._model.reset()
        self._calls = 0
        self._chunker.reset()


class OpenWakeWordEngine:
    """openWakeWord (pyopen-wakeword): more CPU (~45x microWakeWord), other models."""

    CHUNK = 1280  # 80 ms, the feature model's step

    def __init__(self, model_path: Path) -> None:
        from pyopen_wakeword import OpenWakeWord, OpenWakeWordFeatures

        try:
            self._model = OpenWakeWord.from_model(model_path)
            self._features = OpenWakeWordFeatures.from_builtin()
        except (OSError, ValueError) as exc:
            raise WakeModelError(f"cannot load openWakeWord model {model_path}: {exc}") from exc
        self.name = Path(model_path).stem
        self.default_threshold = 0.5
        self._chunker = Chunker(self.CHUNK)

    def process(self, pcm: bytes) -> list[Score]:
        out: list[Score] = []
        for end, chunk in self._chunker.push_with_ends(pcm):
            for emb in self._features.process_streaming(chunk):
                for prob in self._model.process_streaming(emb):
                    out.append(Score(self.name, end, float(prob)))
        return out

    def reset(self) -> None:
        self._features.reset()
        self._model.reset()
        self._chunker.reset()


def find_model(engine: str, name: str, custom_dir: str = "", models_cfg: ModelsConfig | None = None) -> Path:
    """Locate a wake word model: a name in ``custom_dir``, then what ``panikid.models.resolve`` finds
    (a bundled name, a file path, or ``hf:owner/name/file``).

    microWakeWord models are described by a JSON file next to the .tflite;
    openWakeWord models are a .tflite file.
    """
    from ... import models

    suffix = ".json" if engine == "micro" else ".tflite"
    if custom_dir and not name.startswith("hf:"):
        candidate = Path(custom_dir).expanduser() / f"{name}{suffix}"
        if candidate.is_file():
            return candidate
    spec = name
    as_path = Path(name).expanduser()
    if engine == "micro" and as_path.suffix == ".tflite":
        spec = str(as_path.with_suffix(".json"))  # the config beside it describes the model
    try:
        return models.resolve("wake", spec, models_cfg or ModelsConfig(), engine=engine)
    except models.ModelError as exc:
        where = f" or {Path(custom_dir).expanduser() / (name + suffix)}" if custom_dir else ""
        raise WakeModelError(
            f"{exc}{where}; use a built-in name, put {name}{suffix} in wake.custom_models_dir, give a file path, "
            "or hf:owner/name/file"
        ) from exc


def check_custom_dir(custom_dir: str) -> None:
    """``wake.custom_models_dir``, when set, must be a directory: a typo there would
    otherwise go unnoticed for as long as the wake words are built-in ones."""
    if not custom_dir:
        return
    path = Path(custom_dir).expanduser()
    if not path.exists():
        raise WakeModelError(f"wake.custom_models_dir: {path} does not exist; create it (with the models in it) "
                             "or set it to \"\" to use the built-in wake words only")
    if not path.is_dir():
        raise WakeModelError(f"wake.custom_models_dir: {path} is not a directory; give the directory that "
                             "holds the models (name.json + name.tflite, or name.tflite)")


def load_engines(engine: str, names: list[str], custom_dir: str = "",
                 models_cfg: ModelsConfig | None = None) -> list[WakeEngine]:
    check_custom_dir(custom_dir)
    engines: list[WakeEngine] = []
    for name in names:
        path = find_model(engine, name, custom_dir, models_cfg)
        engines.append(MicroWakeWordEngine(path) if engine == "micro" else OpenWakeWordEngine(path))
    return engines


assert SAMPLE_RATE == 16000  # both engines are trained on 16 kHz audio
