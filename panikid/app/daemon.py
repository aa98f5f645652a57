"""The daemon: runs the voice pipeline (see assembly.py), its state machine and its surfaces.

Surfaces (``--events`` JSON lines today) subscribe to the event bus; the state
machine is ticked twice a second so a stuck turn returns to idle.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections import deque
from typing import IO, Protocol, TypeVar

from .. import events as ev
from ..brains.intents import Action
from ..brains.processor import AssistantProcessor
from ..config import Config
from ..events import Event, EventBus, Subscription
from ..events.metrics import TurnMetrics
from ..events.state import State, StateMachine
from ..pipeline.frames import Frame, InterruptionFrame, ListenFrame, MuteFrame, TranscriptionFrame, TTSSpeakFrame
from ..pipeline.processor import FrameProcessor
from ..pipeline.runner import Pipeline, PipelineRunner
from ..pipeline.turns import next_turn_id
from ..speech.turn.processor import TurnDetector
from ..speech.wake.processor import WakeWordProcessor
from .assembly import RunOptions, build_pipeline, make_transports
from .components import Components, load_all, segmenter_for
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


class Surface(Protocol):
    """Something that exposes the assistant (MQTT, WebSocket, systemd notify)."""

    async def start(self, daemon: Daemon) -> None: ...

    async def stop(self) -> None: ...


class Daemon:
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
        # Settings a surface may change at run time (panikid.control).
        self.volume = cfg.audio.volume
        self.wake_sensitivity = "medium"
        self.llm_backend = "auto"
        self._stop = asyncio.Event()
        self._hold = asyncio.Event()
        self._hold.set()
        # Turns that answered a question (for follow-up mode); a few at most are open at once.
        self._asked: deque[int] = deque(maxlen=16)
        self.bus.listen(self._on_event)

    # ---------------------------------------------------------------- state
    def _on_event(self, e: Event) -> None:
        if e.type == ev.STATE:
            return
        turn = e.data.get("turn", 0)
        if e.type == ev.TRANSCRIPT and e.data.get("text"):
            self._asked.append(turn)
        elif e.type == ev.TURN_ABANDONED and turn in self._asked:
            self._asked.remove(turn)
        new = self.state.on_event(e.type, e.data, e.t)
        if new is not None:
            self.bus.publish(ev.STATE, state=new.value)
            self._update_hold()
            if new is State.IDLE:
                # A turn's buffers go back to the system, off the event loop.
                with contextlib.suppress(RuntimeError):  # no loop (a unit test driving the bus): skip
                    asyncio.get_running_loop().run_in_executor(None, release_free_memory)
        # After the state machine saw the reply end, so the follow-up's "listening" is the last word.
        if e.type == ev.AUDIO_STOPPED:
            self._maybe_follow_up(e)

    def _maybe_follow_up(self, e: Event) -> None:
        """Follow-up mode: after answering a question, listen again without the wake word."""
        turn = e.data.get("turn", 0)
        asked = turn in self._asked
        if asked:
            self._asked.remove(turn)
        seconds = self.cfg.context.follow_up_seconds
        if (seconds <= 0 or not asked or e.data.get("interrupted") or self.state.muted
                or self.pipeline is None or self.pipeline.ended.is_set()):
            return
        self.bus.publish("listen", follow_up=True, seconds=seconds)
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
                self.bus.publish(ev.STATE, state=State.IDLE.value, reason=f"{before.value} timed out")
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

    # ---------------------------------------------------------------- control
    # Every surface (MQTT, WebSocket, signals) acts on the assistant through
    # these methods; commands are validated before they get here.
    def _queue(self, frame: Frame) -> None:
        if self.pipeline is None:
            raise RuntimeError("the assistant is not running yet")
        self.pipeline.queue_frame(frame)

    def mute(self, muted: bool) -> None:
        self._queue(MuteFrame(muted))
        self.bus.publish("mute" if muted else "unmute")

    def listen(self) -> None:
        """Start a turn as if the wake word had been heard."""
        self._queue(InterruptionFrame(reason="listen"))
        self.bus.publish("listen")
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
        self.bus.publish(ev.TRANSCRIPT, turn=turn, text=text, source="command")
        self._queue(TranscriptionFrame(turn, text))
        return turn

    def set_volume(self, volume: float) -> None:
        """Playback volume, 0 to 1: applied by an output transport with a ``volume`` attribute."""
        self.volume = volume
        out = self.pipeline.processors[-1] if self.pipeline else None
        if out is not None and hasattr(out, "volume"):
            out.volume = volume
        self.bus.publish("volume", volume=round(volume * 100, 1))

    def set_wake_sensitivity(self, level: str, threshold: float) -> None:
        wake = self.wake
        if wake is None:
            raise RuntimeError("the assistant is not running yet")
        wake.detector.threshold = threshold
        self.wake_sensitivity = level
        self.bus.publish("wake_sensitivity", level=level, threshold=threshold)

    def set_llm_backend(self, backend: str) -> None:
        """auto, local or cloud: which brain the router uses from the next turn on."""
        self.llm_backend = backend
        assistant = self.assistant
        if assistant is not None:
            assistant.backend_choice = backend
        self.bus.publish("llm_backend", backend=backend)

    def _processor(self, cls: type[P]) -> P | None:
        """The pipeline's processor of type ``cls`` (None before the pipeline is built)."""
        if self.pipeline is None:
            return None
        return next((p for p in self.pipeline.processors if isinstance(p, cls)), None)

    @property
    def assistant(self) -> AssistantProcessor | None:
        return self._processor(AssistantProcessor)

    def _on_intent_action(self, action: Action) -> None:
        """Device actions of instant intents go through the same control methods as commands."""
        current = self.volume
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
        keeps running); a valid one is applied where it can be live, and the log says
        which changed keys need a restart. Surfaces (the MQTT session) are untouched."""
        from .. import config as config_mod
        from ..service.reload import plan

        path = None if self.cfg.source == "built-in defaults" else self.cfg.source
        try:
            new = config_mod.load(path)
        except config_mod.ConfigError as exc:
            log.error("reload refused, the running configuration stays in effect: %s", exc)
            self.bus.publish(ev.ERROR, where="config", message=f"reload refused: {exc}")
            return False
        self.cfg, applied, restart = plan(self.cfg, new)
        self._apply_live_config()
        log.info("configuration reloaded from %s: applied %s%s", self.cfg.source,
                 ", ".join(applied) or "nothing (no live key changed)",
                 f"; these keys need a restart to take effect: {', '.join(restart)}" if restart else "")
        wake = self.wake
        self.bus.publish("config_reloaded", source=self.cfg.source, applied=applied, restart_needed=restart,
                         wake_threshold=wake.detector.threshold if wake else None)
        return True

    def _apply_live_config(self) -> None:
        logging.getLogger().setLevel(self.cfg.general.log_level.upper())
        if self.pipeline is None:
            return  # still loading: the pipeline is built from self.cfg
        for p in self.pipeline.processors:
            if isinstance(p, WakeWordProcessor):
                t = self.cfg.wake.threshold
                p.detector.threshold = t if t > 0 else min(e.default_threshold for e in p.engines)
                p.detector.cooldown_seconds = self.cfg.wake.cooldown_seconds
            elif isinstance(p, TurnDetector):
                fresh = segmenter_for(self.cfg, p.turn_model is not None)
                p.segmenter.speech_seconds, p.segmenter.silence_seconds = fresh.speech_seconds, fresh.silence_seconds
                p.segmenter.max_seconds, p.segmenter.no_speech_seconds = fresh.max_seconds, fresh.no_speech_seconds
                p.pre_roll = self.cfg.vad.pre_roll_seconds
                p.model_pause, p.model_threshold = self.cfg.turn.pause_seconds, self.cfg.turn.threshold
            elif isinstance(p, AssistantProcessor):
                p.prompt = self.cfg.llm.system_prompt
        if self.cfg.audio.volume != self.volume:
            self.set_volume(self.cfg.audio.volume)

    def request_stop(self) -> None:
        self._stop.set()

    @property
    def wake(self) -> WakeWordProcessor | None:
        return self._processor(WakeWordProcessor)

    # ---------------------------------------------------------------- run
    async def _start_surfaces(self) -> None:
        for surface in self.surfaces:
            try:
                async with asyncio.timeout(SURFACE_DEADLINE):
                    await surface.start(self)
            except Exception as exc:  # a surface never takes the voice loop down
                log.exception("%s did not start", type(surface).__name__)
                self.bus.publish(ev.ERROR, where=type(surface).__name__, message=str(exc))

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
        try:
            await self._start_surfaces()
            if self.components is None:
                self.components = await asyncio.to_thread(load_all, self.cfg)
            comps: Components = self.components
            tin, tout = make_transports(self.cfg, self.opts, comps.tts.sample_rate, self._hold)
            self.pipeline = build_pipeline(self.cfg, comps, tin, tout)
            assistant = self.assistant
            if assistant is not None:
                assistant.on_action = self._on_intent_action
                # User actions ("turn on the lights") publish through the first surface that can.
                assistant.action_sink = next(
                    (sf for sf in self.surfaces if callable(getattr(sf, "publish", None))), None
                )  # type: ignore[assignment]
            tout.volume = self.volume  # type: ignore[attr-defined]
            runner = PipelineRunner(self.pipeline, self.bus)
            await runner.start()
            await self._wait_for_audio()
            self.bus.publish(ev.READY, input=self.opts.input_wav or "microphone",
                             output=self.opts.output_wav or ("none" if self.opts.input_wav else "speaker"),
                             load_seconds=comps.load_seconds)
            self.bus.publish(ev.STATE, state=self.state.state.value)
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
                self.bus.publish(ev.ERROR, where="input", message="the audio input stopped", fatal=True)
                return 1
            return 0
        finally:
            ticker.cancel()
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
