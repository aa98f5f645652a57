"""The daemon's control API (panikid.control.api.ControlApi): what surfaces read, and the calls that act.

:class:`DaemonControl` is the half of :class:`~panikid.app.daemon.Daemon` that every surface (MQTT, the
WebSocket, systemd) and signal acts through; the daemon adds the run loop. Each call becomes a frame:
mute a ``MuteFrame``, listen a ``ListenFrame``, stop an ``InterruptionFrame``, say and ask the text's
frame; settings (volume, wake word sensitivity, LLM backend, a SIGHUP reload: planned by
panikid.service.reload) one ``UpdateSettingsFrame`` whose keys each processor applies itself. Nothing
here writes a processor's attributes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Mapping
from typing import Any, TypeVar

from ..brains.intents import Action
from ..config import Config
from ..control.commands import CommandHandler
from ..control.settings import RuntimeSettings
from ..events import EventBus
from ..events.schema import (
    ConfigReloaded,
    EndOfTurnChanged,
    Error,
    Listening,
    LlmBackendChanged,
    Muted,
    Transcript,
    Unmuted,
    VolumeChanged,
    WakeSensitivityChanged,
    WakeWordChanged,
)
from ..events.state import StateMachine
from ..pipeline.frames import (
    Frame,
    InterruptionFrame,
    ListenFrame,
    MuteFrame,
    TranscriptionFrame,
    TTSSpeakFrame,
    UpdateSettingsFrame,
    WakeModelsFrame,
)
from ..pipeline.processor import FrameProcessor
from ..pipeline.runner import Pipeline
from ..pipeline.turns import next_turn_id
from ..service.reload import plan
from ..speech.turn.patience import silence_for
from ..speech.turn.processor import TurnDetector
from ..speech.wake import choices as wake_choices
from ..speech.wake.engines import load_engines
from ..speech.wake.processor import WakeWordProcessor
from .assembly import LIVE_KEYS, OWN_KEYS

log = logging.getLogger(__name__)
P = TypeVar("P", bound=FrameProcessor)


class DaemonControl:
    """The control API of the daemon; the daemon sets these up (see Daemon.__init__)."""

    cfg: Config
    bus: EventBus
    state: StateMachine
    pipeline: Pipeline | None
    commands: CommandHandler
    _settings: RuntimeSettings
    """The runtime settings (panikid.control.settings) but mute, which the state machine knows."""
    _tasks: set[asyncio.Task[None]]
    """Work a command started that ends later (a wake word loading)."""

    # ---------------------------------------------------------------- control API (read)
    @property
    def running(self) -> bool:
        return self.pipeline is not None

    def current_state(self) -> str:
        return self.state.state.value

    def settings(self) -> RuntimeSettings:
        return dataclasses.replace(self._settings, muted=self.state.muted)

    def last_audio(self) -> float | None:
        wake = self.wake
        if wake is None or wake.audio_frames == 0:
            return None
        return float(wake.last_audio)

    # ---------------------------------------------------------------- control API (act)
    # Every surface (MQTT, WebSocket, signals) acts on the assistant through
    # these methods; commands are validated before they get here.
    def _queue(self, frame: Frame) -> None:
        if self.pipeline is None:
            raise RuntimeError("the assistant is not running yet")
        self.pipeline.queue_frame(frame)

    def _update(self, settings: Mapping[str, Any]) -> None:
        """Hand changed settings to the pipeline's processors (before it is built: it is built with them)."""
        if self.pipeline is not None and settings:
            self.pipeline.queue_frame(UpdateSettingsFrame(dict(settings)))

    def mute(self, muted: bool) -> None:
        self._queue(MuteFrame(muted))
        self.bus.publish(Muted() if muted else Unmuted())

    def listen(self) -> None:
        """Start a turn as if the wake word had been heard."""
        self._queue(InterruptionFrame(reason="listen"))
        self.bus.publish(Listening())
        self._queue(ListenFrame())

    def stop_turn(self) -> None:
        """Cancel the current turn and its playback."""
        self._queue(InterruptionFrame(reason="stop"))

    def say(self, text: str) -> int:
        """Speak ``text`` (no LLM); returns the turn id."""
        turn = next_turn_id()
        self._queue(TTSSpeakFrame(turn, text, last=True))
        return turn

    def ask(self, text: str) -> int:
        """Answer ``text`` aloud as if it had been spoken; returns the turn id."""
        turn = next_turn_id()
        self.bus.publish(Transcript(turn=turn, text=text, source="command"))
        self._queue(TranscriptionFrame(turn, text))
        return turn

    def set_volume(self, volume: float) -> None:
        """Playback volume, 0 to 1: the output transport applies ``audio.volume``."""
        self._update({"audio.volume": volume})
        self._volume_changed(volume)

    def _volume_changed(self, volume: float) -> None:
        self._settings = dataclasses.replace(self._settings, volume=volume)
        self.bus.publish(VolumeChanged(volume=round(volume * 100, 1)))

    def set_wake_sensitivity(self, level: str) -> None:
        """The wake word processor moves its threshold around the configured one."""
        wake = self.wake
        if wake is None:
            raise RuntimeError("the assistant is not running yet")
        self._queue(UpdateSettingsFrame({"wake.sensitivity": level}))
        self._settings = dataclasses.replace(self._settings, wake_sensitivity=level)
        threshold = wake.threshold  # applied as the frame was queued: system frames do not wait
        self.bus.publish(WakeSensitivityChanged(level=level, threshold=threshold))

    def wake_words(self) -> list[str]:
        """The wake words this device offers (the configured set first): the ``wake_word`` options."""
        return list(wake_choices.for_config(self.cfg))

    def set_wake_word(self, model: str) -> None:
        """Listen for another wake word: checked against :meth:`wake_words` at once, then loaded in a
        worker thread and swapped in; a ``wake_word`` event says it took effect, an ``error`` that it
        could not be loaded (the old one stays)."""
        offered = wake_choices.for_config(self.cfg)
        if model not in offered:
            raise ValueError(f"got {model[:60]!r}, allowed on this device: {', '.join(offered)}")
        if self.wake is None:
            raise RuntimeError("the assistant is not running yet")
        task = asyncio.get_running_loop().create_task(self._swap_wake_word(model, offered[model]))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _swap_wake_word(self, model: str, specs: list[str]) -> None:
        w = self.cfg.wake
        try:
            engines = await asyncio.to_thread(load_engines, w.engine, specs, w.custom_models_dir, self.cfg.models)
        except Exception as exc:  # a model file gone or broken since start: the old wake word stays
            log.error("wake word %s could not be loaded: %s", model, exc)
            self.bus.publish(Error(where="commands", message=f"wake_word: {model} could not be loaded, "
                                                             f"the wake word stays {self._settings.wake_word}: {exc}"))
            return
        wake = self.wake
        if wake is None:
            return
        self._queue(WakeModelsFrame(tuple(engines)))
        self._settings = dataclasses.replace(self._settings, wake_word=model)
        self.bus.publish(WakeWordChanged(model=model, threshold=wake.threshold))

    def set_end_of_turn(self, level: str) -> None:
        """relaxed, default or aggressive: the silence that ends a turn, from the next pause on."""
        turn = self._processor(TurnDetector)
        if turn is None:
            raise RuntimeError("the assistant is not running yet")
        silence = silence_for(level, turn.configured_silence)  # an unknown level is refused here
        self._queue(UpdateSettingsFrame({"turn.end_of_turn": level}))
        self._settings = dataclasses.replace(self._settings, end_of_turn=level)
        self.bus.publish(EndOfTurnChanged(level=level, silence_seconds=silence))

    def set_llm_backend(self, backend: str) -> None:
        """auto, local or cloud: which brain the router uses from the next turn on."""
        self._update({"llm.backend": backend})
        self._settings = dataclasses.replace(self._settings, llm_backend=backend)
        self.bus.publish(LlmBackendChanged(backend=backend))

    def _processor(self, cls: type[P]) -> P | None:
        """The pipeline's processor of type ``cls`` (None before the pipeline is built)."""
        if self.pipeline is None:
            return None
        return next((p for p in self.pipeline.processors if isinstance(p, cls)), None)

    @property
    def wake(self) -> WakeWordProcessor | None:
        return self._processor(WakeWordProcessor)

    def _on_intent_action(self, action: Action) -> None:
        """Device actions of instant intents go through the same control methods as commands."""
        current = self._settings.volume
        if action.name == "volume_up":
            self.set_volume(min(1.0, round(current + 0.1, 2)))
        elif action.name == "volume_down":
            self.set_volume(max(0.0, round(current - 0.1, 2)))
        elif action.name == "volume_set" and action.value is not None:
            self.set_volume(max(0.0, min(1.0, action.value)))
        elif action.name == "mute":
            self.mute(True)
        elif action.name == "stop":
            self.stop_turn()

    def reload(self) -> bool:
        """SIGHUP: re-read the configuration file. An invalid one is refused (the old one
        keeps running); a valid one is planned (which changed keys apply live, which need a
        restart: panikid.service.reload) and the live ones go to the pipeline as one frame.
        Surfaces (the MQTT session) are untouched."""
        from .. import config as config_mod

        path = None if self.cfg.source == "built-in defaults" else self.cfg.source
        try:
            new = config_mod.load(path)
        except config_mod.ConfigError as exc:
            log.error("reload refused, the running configuration stays in effect: %s", exc)
            self.bus.publish(Error(where="config", message=f"reload refused: {exc}"))
            return False
        self.cfg, applied, restart = plan(self.cfg, new, LIVE_KEYS)
        if "general.log_level" in applied:
            logging.getLogger().setLevel(str(applied["general.log_level"]).upper())
        self._update({k: v for k, v in applied.items() if k not in OWN_KEYS})
        if "audio.volume" in applied:
            self._volume_changed(float(applied["audio.volume"]))
        log.info("configuration reloaded from %s: applied %s%s", self.cfg.source,
                 ", ".join(applied) or "nothing (no live key changed)",
                 f"; these keys need a restart to take effect: {', '.join(restart)}" if restart else "")
        wake = self.wake
        self.bus.publish(ConfigReloaded(source=self.cfg.source, applied=applied, restart_needed=restart,
                                        wake_threshold=wake.detector.threshold if wake else None))
        return True
