"""Text to speech with piper (the default engine): a voice's .onnx and its .onnx.json, on onnxruntime."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

from ...config import Config

log = logging.getLogger(__name__)


class PiperEngine:
    name = "piper"

    def __init__(self, model_path: Path, length_scale: float = 1.0, speaker_id: int = 0) -> None:
        import json

        import onnxruntime
        from piper import PiperVoice, SynthesisConfig
        from piper.config import PiperConfig

        config_path = Path(f"{model_path}.json")
        if not config_path.is_file():
            raise FileNotFoundError(f"tts.voice: {config_path} (the voice's config) does not exist")
        # Without onnxruntime's memory arena, memory used by a long sentence is
        # given back afterwards instead of being kept for good (~100 MB here).
        opts = onnxruntime.SessionOptions()
        opts.enable_cpu_mem_arena = False
        opts.log_severity_level = 3
        session = onnxruntime.InferenceSession(
            str(model_path), sess_options=opts, providers=["CPUExecutionProvider"]
        )
        with open(config_path, encoding="utf-8") as f:
            self.voice = PiperVoice(config=PiperConfig.from_dict(json.load(f)), session=session)
        self.sample_rate = int(self.voice.config.sample_rate)
        multi = self.voice.config.num_speakers > 1
        self.syn_config = SynthesisConfig(
            length_scale=length_scale, speaker_id=speaker_id if multi else None
        )

    def synthesize(self, text: str) -> Iterator[bytes]:
        """Yield s16le mono audio chunks at ``sample_rate`` (blocking)."""
        for chunk in self.voice.synthesize(text, self.syn_config):
            yield chunk.audio_int16_bytes

    def synthesize_all(self, text: str) -> bytes:
        return b"".join(self.synthesize(text))


def load(cfg: Config) -> PiperEngine:
    """The piper voice ``tts.voice`` names (bundled, a path, or hf:...)."""
    from ... import models

    path = models.resolve("tts", cfg.tts.voice, cfg.models)
    try:
        return PiperEngine(path, cfg.tts.length_scale, cfg.tts.speaker_id)
    except Exception as exc:  # onnxruntime and piper raise many kinds on a bad file
        raise models.ModelError(f"tts.voice: cannot load {path}: {exc}") from exc
