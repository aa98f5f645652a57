"""Load the speech components a configuration asks for (slow: call from a thread).

Every model is resolved through panikid.models (bundled package, local path, or
hub name) and loaded here, so a bad model setting fails at start with an error
that names its key.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from .. import models
from ..audio.cues import Cue, CueError, load_cue
from ..brains.processor import Provider
from ..brains.prompt import leading_prompt
from ..brains.prompt import system_prompt as dated_prompt
from ..brains.providers.llama_cpp import LlamaCppBackend
from ..brains.router import Router
from ..config import Config, tcp_uri
from ..speech.stt.whisper import WhisperEngine
from ..speech.stt.wyoming import WyomingSttEngine
from ..speech.tts import engine as tts_engine
from ..speech.tts.engine import TtsEngine
from ..speech.turn.segmenter import EndOfTurnSegmenter
from ..speech.turn.smart_turn import SmartTurnModel
from ..speech.turn.vad import SileroVad, VadEngine, WebRtcVad
from ..speech.wake.engines import WakeEngine, WakeModelError, load_engines
from .memory import release_free_memory, tune_malloc

log = logging.getLogger(__name__)


class ComponentError(Exception):
    """A component could not be loaded; the message names the config key."""


@dataclass
class Components:
    wake: list[WakeEngine]
    vad: VadEngine
    stt: WhisperEngine | WyomingSttEngine
    llm: Provider
    tts: TtsEngine
    load_seconds: dict[str, float]
    router: Router | None = None
    """Local model plus the configured cloud provider, per router.policy."""
    cues: dict[str, Cue | None] = field(default_factory=dict)
    """The configured cues (wake, end, error) at the voice's rate; None where turned off."""
    turn_model: SmartTurnModel | None = None
    """The end-of-turn model (turn.model), or None: silence alone ends a turn."""
    stop_words: list[WakeEngine] = field(default_factory=list)
    """The stop words (wake.stop_models): heard while a reply plays, they stop it."""

    def warm_up(self, system_prompt: str) -> None:
        """Run each model once so the first turn is as fast as the others (blocking).

        llama.cpp keeps the evaluated system prompt in its cache, so later turns
        only evaluate the user's words. ``system_prompt`` is the leading system
        message exactly as the assistant sends it (with the persona).
        """
        import threading

        started = time.perf_counter()
        if isinstance(self.stt, WyomingSttEngine):
            self.stt.warm_up()  # the local fallback, and the server once
        else:
            self.stt.transcribe(bytes(16000 * 2))
        if self.turn_model is not None:
            self.turn_model.probability(bytes(16000 * 2))
        messages = [{"role": "system", "content": dated_prompt(system_prompt)}, {"role": "user", "content": "Hi."}]
        for _ in self.llm.stream(messages, threading.Event()):
            break
        warm_tts = getattr(self.tts, "warm_up", None)  # an engine with a fallback warms both
        if warm_tts is not None:
            warm_tts()
        else:
            self.tts.synthesize_all("Ready.")
        self.load_seconds["warm_up"] = round(time.perf_counter() - started, 3)

    def segmenter(self, cfg: Config) -> EndOfTurnSegmenter:
        return segmenter_for(cfg, self.turn_model is not None)


def segmenter_for(cfg: Config, with_model: bool) -> EndOfTurnSegmenter:
    """With an end-of-turn model, silence only ends the turns the model calls unfinished."""
    v = cfg.vad
    silence = cfg.turn.max_pause_seconds if with_model else v.silence_seconds
    return EndOfTurnSegmenter(v.speech_seconds, silence, v.max_seconds, v.no_speech_seconds)


def _timed(times: dict[str, float], key: str, fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    try:
        return fn(*args, **kwargs)
    finally:
        times[key] = round(time.perf_counter() - started, 3)


def load_wake(cfg: Config, stop_words: bool = False) -> list[WakeEngine]:
    """The wake word engines (``stop_words``: those of wake.stop_models)."""
    names = cfg.wake.stop_models if stop_words else cfg.wake.models
    try:
        return load_engines(cfg.wake.engine, list(names), cfg.wake.custom_models_dir, cfg.models)
    except WakeModelError as exc:
        raise ComponentError(f"wake.stop_models: {exc}" if stop_words else str(exc)) from exc


def load_vad(cfg: Config) -> VadEngine:
    if cfg.vad.engine == "silero":
        path = models.resolve("vad", "silero", cfg.models)
        return SileroVad(path, cfg.vad.threshold)
    return WebRtcVad(cfg.vad.aggressiveness)


def load_stt(cfg: Config) -> WhisperEngine | WyomingSttEngine:
    """The local Whisper model; with stt.engine = 'wyoming', the server with that model as its fallback."""
    path = models.resolve("stt", cfg.stt.model, cfg.models)
    s = cfg.stt
    try:
        local = WhisperEngine(path, s.language, s.beam_size, s.compute_type, s.threads, s.audio_context)
    except Exception as exc:  # CTranslate2 raises RuntimeError/ValueError on bad models
        raise ComponentError(f"stt.model: cannot load {path}: {exc}") from exc
    if s.engine == "wyoming":
        host, port = tcp_uri("stt.uri", s.uri)
        return WyomingSttEngine(host, port, local, s.language, s.remote_timeout_seconds)
    return local


def load_llm(cfg: Config) -> Provider:
    path = models.resolve("llm", cfg.llm.model, cfg.models)
    c = cfg.llm
    try:
        return LlamaCppBackend(
            path, c.context_size, c.threads, c.max_tokens, c.temperature, c.repeat_penalty
        )
    except Exception as exc:  # llama.cpp raises ValueError on a bad file
        raise ComponentError(f"llm.model: cannot load {path}: {exc}") from exc


def load_router(cfg: Config, local: Provider | None) -> Router:
    """The router over the local model and the cloud provider (no network at build time)."""
    from ..brains.factory import BrainsConfigError, build_router

    try:
        return build_router(cfg, local)
    except BrainsConfigError as exc:
        raise ComponentError(str(exc)) from exc


def load_turn_model(cfg: Config) -> SmartTurnModel | None:
    if cfg.turn.model == "none":
        return None
    path = models.resolve("turn", cfg.turn.model, cfg.models)
    try:
        return SmartTurnModel(path, cfg.turn.threads)
    except Exception as exc:  # onnxruntime raises its own types for a bad file
        raise ComponentError(f"turn.model: cannot load {path}: {exc}") from exc


def load_cues(cfg: Config, sample_rate: int) -> dict[str, Cue | None]:
    cues: dict[str, Cue | None] = {}
    for key in ("wake", "end", "error"):
        try:
            cues[key] = load_cue(getattr(cfg.cues, key), sample_rate, cfg.cues.level)
        except CueError as exc:
            raise ComponentError(f"cues.{key}: {exc}") from exc
    return cues


def load_tts(cfg: Config) -> TtsEngine:
    try:
        return tts_engine.load(cfg)
    except tts_engine.TtsEngineError as exc:
        raise ComponentError(str(exc)) from exc


def load_all(cfg: Config) -> Components:
    applied = tune_malloc(cfg.general.low_memory)
    if cfg.general.low_memory and applied:
        log.info("low-memory mode: buffers of 1 MiB or more go back to the system when freed")
    elif cfg.general.low_memory:
        log.warning("general.low_memory: this C library cannot be tuned (not glibc); memory use is unchanged")
    times: dict[str, float] = {}
    try:
        wake = _timed(times, "wake", load_wake, cfg)
        stop_words = load_wake(cfg, stop_words=True)
        vad = _timed(times, "vad", load_vad, cfg)
        stt = _timed(times, "stt", load_stt, cfg)
        llm = _timed(times, "llm", load_llm, cfg)
        tts = _timed(times, "tts", load_tts, cfg)
        turn_model = _timed(times, "turn", load_turn_model, cfg)
    except models.ModelError as exc:
        raise ComponentError(str(exc)) from exc
    comps = Components(wake, vad, stt, llm, tts, times, load_router(cfg, llm), load_cues(cfg, tts.sample_rate),
                       turn_model, stop_words)
    comps.warm_up(leading_prompt(cfg.llm.system_prompt, cfg.context.persona))
    release_free_memory()
    log.info("models loaded in %s", times)
    return comps
