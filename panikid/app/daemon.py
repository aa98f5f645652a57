"""The daemon: runs the voice pipeline (see assembly.py), its state machine and its surfaces.

It implements the control API (panikid.control.api) that every surface (MQTT,
the WebSocket, systemd) and signal acts through: commands become frames, and
settings (commands, a SIGHUP reload) one ``UpdateSettingsFrame`` that each
processor applies its own keys of. One command handler serves every surface.
The state machine is ticked twice a second so a stuck turn returns to idle;
the follow-up policy (panikid.events.follow_up) is fed the same events.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import signal
from collections.abc import Mapping
from typing import IO, Any, TypeVar, cast

from ..brains.intents import Action, ActionSink
from ..brains.processor import AssistantProcessor
from ..config import Config
from ..control.api import Surface
from ..control.commands import CommandHandler
from ..control.settings import RuntimeSettings
from ..events import Event, EventBus, Subscription
from ..events.follow_up import FollowUpPolicy
from ..events.metrics import TurnMetrics
from ..events.schema import (
    ConfigReloaded,
    Error,
    Listening,
    LlmBackendChanged,
    Muted,
    Ready,
    StateChanged,
    Transcript,
    Unmuted,
    VolumeChanged,
    WakeSensitivityChanged,
)
from ..events.state import State, StateMachine
from ..pipeline.frames import (
    Frame,
    InterruptionFrame,
    ListenFrame,
    MuteFrame,
    TranscriptionFrame,
    TTSSpeakFrame,
    UpdateSettingsFrame,
)
from ..pipeline.processor import FrameProcessor
from ..pipeline.runner import Pipeline, PipelineRunner
from ..pipeline.turns import next_turn_id
from ..service.reload import plan
from ..service.testhook import StallHook
from ..speech.wake.processor import WakeWordProcessor
from .assembly import LIVE_KEYS, OWN_KEYS, RunOptions, build_pipeline, make_transports
from .components import Components, load_all
from .memory import release_free_memory

log = logging.getLogger(__name__)
P = TypeVar("P", bound=FrameProcessor)

STOP_DEADLINE = 3.0
"""SIGTERM/SIGINT: seconds the daemon gives the pipeline before cutting everything."""
SURFACE_DEADLINE = 5.0
"""Starting or stopping one surface (MQTT, WebSocket, ...) never takes longer."""
AUDIO_DEADLINE = 10.0
"""After start, the first audio frame must arrive within this, or the input is broken."""


class AudioNotFlowingError(Exception):
    """The input was opened but delivers no audio."""


class Daemon:
    """The voice loop and everything around it; implements panikid.control.api.ControlApi."""

    def __init__(
        self,
        cfg: Config,
        opts: RunOptions,
        components: Components | None = None,
        surfaces: list[Surface] | None = None,
    ) -> None:
        self.cfg = cfg
        self.surfaces: list[Surface] = list(surfaces or [])
        self.opts = opts
        self.components = components
        self.bus = EventBus()
        self.state = StateMachine()
        self.metrics = TurnMetrics(self.bus)
        self.pipeline: Pipeline | None = None
        self._settings = RuntimeSettings(volume=cfg.audio.volume)
        """The runtime settings (panikid.control.settings) but mute, which the state machine knows."""
        self.commands = CommandHandler(self)
        """The one command handler: every surface hands its commands to it."""
        self.follow_up = FollowUpPolicy(cfg.context.follow_up_seconds)
        self._stop = asyncio.Event()
        self._hold = asyncio.Event()
        self._hold.set()
        self.bus.listen(self._on_event)

    # ---------------------------------------------------------------- state
    def _on_event(self, e: Event) -> None:
        if isinstance(e.body, StateChanged):
            return
        new = self.state.on_event(e.type, e.data, e.t)
        if new is not None:
            self.bus.publish(StateChanged(state=new.value))
            self._update_hold()
            if new is State.IDLE:
                # A turn's buffers go back to the system, off the event loop.
                with contextlib.suppress(RuntimeError):  # no loop (a unit test driving the bus): skip
                    asyncio.get_running_loop().run_in_executor(None, release_free_memory)
        # After the state machine saw the reply end, so the follow-up's "listening" is the last word.
        seconds = self.follow_up.on_event(e.type, e.data, muted=self.state.muted)
        if seconds is not None and self.pipeline is not None and not self.pipeline.ended.is_set():
            self.bus.publish(Listening(follow_up=True, seconds=seconds))
            self.pipeline.queue_frame(ListenFrame(no_speech_seconds=seconds, reason="follow_up"))

    def _update_hold(self) -> None:
        # A fast-paced input file waits while a turn is processed or answered.
        if self.state.state in (State.PROCESSING, State.RESPONDING):
            self._hold.clear()
        else:
            self._hold.set()

    async def _tick_state(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            before = self.state.state
            if self.state.tick(self.bus.now()) is not None:
                log.warning("state %s timed out, back to idle", before.value)
                self.bus.publish(StateChanged(state=State.IDLE.value, reason=f"{before.value} timed out"))
                self._update_hold()
                if self.pipeline is not None:
                    self.pipeline.queue_frame(InterruptionFrame(reason="timeout"))

    async def _write_events(self, out: IO[str], sub: Subscription) -> None:
        """``--events``: one JSON line per event. The writer never dies: a line the stream
        cannot take (an encoding it cannot write, a closed pipe) is counted and logged once."""
        failed = 0
        while (e := await sub.get()) is not None:
            line = e.to_json() + "\n"
            try:
                try:
                    out.write(line)
                except UnicodeEncodeError:  # a stream whose encoding is not UTF-8: escape, do not drop
                    out.write(e.to_json(ascii_only=True) + "\n")
                out.flush()
            except (OSError, ValueError) as exc:
                failed += 1
                if failed == 1:
                    log.error("--events: cannot write to the events stream (%s); later failures are counted",
                              type(exc).__name__)
        if failed:
            log.error("--events: %d event(s) could not be written", failed)

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
    def assistant(self) -> AssistantProcessor | None:
        return self._processor(AssistantProcessor)

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

    def request_stop(self) -> None:
        self._stop.set()

    # ---------------------------------------------------------------- run
    async def _start_surfaces(self) -> None:
        for surface in self.surfaces:
            try:
                async with asyncio.timeout(SURFACE_DEADLINE):
                    await surface.start(self)
            except Exception as exc:  # a surface never takes the voice loop down
                log.exception("%s did not start", type(surface).__name__)
                self.bus.publish(Error(where=type(surface).__name__, message=str(exc)))

    async def _stop_surfaces(self) -> None:
        for surface in reversed(self.surfaces):
            try:
                async with asyncio.timeout(SURFACE_DEADLINE):
                    await surface.stop()
            except Exception:
                log.exception("%s did not stop cleanly", type(surface).__name__)

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        writer = sub = None
        if self.opts.events_out is not None:
            sub = self.bus.subscribe(maxsize=10000)
            writer = asyncio.create_task(self._write_events(self.opts.events_out, sub))
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self._stop.set)
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signal.SIGHUP, self.reload)
        ticker = asyncio.create_task(self._tick_state())
        runner: PipelineRunner | None = None
        stall = StallHook.from_env()  # tests only: the watchdog must see a hung model call
        try:
            await self._start_surfaces()
            if self.components is None:
                self.components = await asyncio.to_thread(load_all, self.cfg)
            comps: Components = self.components
            tin, tout = make_transports(self.cfg, self.opts, comps.tts.sample_rate, self._hold)
            # User actions ("turn on the lights") publish through the first surface that can.
            sink = next((cast(ActionSink, sf) for sf in self.surfaces if callable(getattr(sf, "publish", None))),
                        None)
            self.pipeline = build_pipeline(self.cfg, comps, tin, tout, on_action=self._on_intent_action,
                                           action_sink=sink, stall=stall)
            # Settings changed while the models loaded (volume, LLM backend) apply from the start.
            s = self._settings
            self._update({"audio.volume": s.volume, "wake.sensitivity": s.wake_sensitivity,
                          "llm.backend": s.llm_backend})
            runner = PipelineRunner(self.pipeline, self.bus)
            await runner.start()
            await self._wait_for_audio()
            self.bus.publish(Ready(input=self.opts.input_wav or "microphone",
                                   output=self.opts.output_wav or ("none" if self.opts.input_wav else "speaker"),
                                   load_seconds=comps.load_seconds))
            if stall is not None:
                stall.arm()
            self.bus.publish(StateChanged(state=self.state.state.value))
            ended = asyncio.create_task(self.pipeline.ended.wait())
            stopping = asyncio.create_task(self._stop.wait())
            await asyncio.wait({ended, stopping}, return_when=asyncio.FIRST_COMPLETED)
            for t in (ended, stopping):
                t.cancel()
            if self._stop.is_set():
                log.info("stopping: the reply in progress is cut")
            elif not self.opts.input_wav:
                # A microphone never ends by itself: exit non-zero so a service manager restarts us.
                log.error("the audio input stopped delivering audio; exiting")
                self.bus.publish(Error(where="input", message="the audio input stopped", fatal=True))
                return 1
            return 0
        finally:
            ticker.cancel()
            if stall is not None:
                stall.release.set()
            if runner is not None:
                await runner.cancel(timeout=STOP_DEADLINE / 3)
            await self._stop_surfaces()
            if writer is not None and sub is not None:
                sub.close()  # the writer drains what is queued, then ends
                try:
                    await asyncio.wait_for(writer, timeout=1.0)
                except (TimeoutError, asyncio.CancelledError):
                    writer.cancel()

    async def _wait_for_audio(self) -> None:
        """Ready means hearing: wait (bounded) for the first audio frame."""
        wake = self.wake
        if wake is None:
            return
        try:
            async with asyncio.timeout(AUDIO_DEADLINE):
                await wake.first_audio.wait()
        except TimeoutError:
            if not self.pipeline or not self.pipeline.ended.is_set():
                raise AudioNotFlowingError(
                    f"no audio arrived from the input within {AUDIO_DEADLINE:.0f} s"
                ) from None
