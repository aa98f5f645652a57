"""The daemon: runs the voice pipeline (see assembly.py), its state machine and its surfaces.

It implements the control API (panikid.control.api; the calls are in
control.py) that every surface (MQTT, the WebSocket, systemd) and signal acts
through, and creates the one command handler every surface uses. The state
machine is ticked twice a second so a stuck turn returns to idle; the
follow-up policy (panikid.events.follow_up) is fed the same events.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import IO, cast

from ..brains.intents import ActionSink
from ..config import Config
from ..control.api import Surface
from ..control.commands import CommandHandler
from ..control.settings import RuntimeSettings
from ..events import Event, EventBus, Subscription
from ..events.follow_up import FollowUpPolicy
from ..events.metrics import TurnMetrics
from ..events.schema import Error, Listening, Ready, SessionEnded, SessionStarted, StateChanged
from ..events.state import State, StateMachine
from ..pipeline.frames import InterruptionFrame, ListenFrame
from ..pipeline.runner import Pipeline, PipelineRunner
from ..service.testhook import StallHook
from ..speech.wake import choices as wake_choices
from ..transports.remote import RemoteFloor, RemoteSession
from .assembly import RunOptions, build_arbiter, build_pipeline, make_transports
from .components import Components, load_all
from .control import DaemonControl
from .memory import release_free_memory

log = logging.getLogger(__name__)

STOP_DEADLINE = 3.0
"""SIGTERM/SIGINT: seconds the daemon gives the pipeline before cutting everything."""
SURFACE_DEADLINE = 5.0
"""Starting or stopping one surface (MQTT, WebSocket, ...) never takes longer."""
AUDIO_DEADLINE = 10.0
"""After start, the first audio frame must arrive within this, or the input is broken."""


class AudioNotFlowingError(Exception):
    """The input was opened but delivers no audio."""


class Daemon(DaemonControl):
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
        self._settings = RuntimeSettings(volume=cfg.audio.volume,
                                         wake_word=wake_choices.configured_choice(cfg.wake.models))
        self._tasks = set()
        self.commands = CommandHandler(self)
        """The one command handler: every surface hands its commands to it."""
        self.follow_up = FollowUpPolicy(cfg.context.follow_up_seconds)
        self._stop = asyncio.Event()
        self._hold = asyncio.Event()
        self._hold.set()
        self.floor: RemoteFloor | None = None
        if cfg.web.enabled and cfg.web.audio_sessions:
            self.floor = RemoteFloor(cfg.web.session_timeout_seconds, self._session_started, self._session_ended)
        self.bus.listen(self._on_event)

    # ---------------------------------------------------------------- state
    def _on_event(self, e: Event) -> None:
        if isinstance(e.body, StateChanged):
            return
        new = self.state.on_event(e.type, e.data, e.t)
        if new is not None:
            self.bus.publish(StateChanged(state=new.value, reason=self.state.reason))
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

    # ---------------------------------------------------------------- remote sessions
    def remote_floor(self) -> RemoteFloor | None:
        return self.floor

    def _cut_turn(self, reason: str) -> None:
        """A remote session came or went: a turn in progress belonged to whoever had the floor before."""
        if self.pipeline is not None and self.state.state not in (State.IDLE, State.MUTED, State.ERROR):
            self.pipeline.queue_frame(InterruptionFrame(reason=reason))

    def _session_started(self, session: RemoteSession) -> None:
        self.bus.publish(SessionStarted(session=session.id, kind=session.info.kind, peer=session.info.peer))
        self._cut_turn("session_started")

    def _session_ended(self, session: RemoteSession) -> None:
        self.bus.publish(SessionEnded(session=session.id, kind=session.info.kind, reason=session.end_reason,
                                      seconds=round(session.clock() - session.started, 1)))
        self._cut_turn("session_ended")

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
            tin, tout = make_transports(self.cfg, self.opts, comps.tts.sample_rate, self._hold, self.floor)
            # User actions ("turn on the lights") publish through the first surface that can.
            sink = next((cast(ActionSink, sf) for sf in self.surfaces if callable(getattr(sf, "publish", None))),
                        None)
            self.pipeline = build_pipeline(self.cfg, comps, tin, tout, on_action=self._on_intent_action,
                                           action_sink=sink, stall=stall,
                                           arbiter=build_arbiter(self.cfg, self.surfaces))
            # Settings changed while the models loaded (volume, LLM backend) apply from the start.
            s = self._settings
            self._update({"audio.volume": s.volume, "wake.sensitivity": s.wake_sensitivity,
                          "turn.end_of_turn": s.end_of_turn, "llm.backend": s.llm_backend})
            runner = PipelineRunner(self.pipeline, self.bus)
            await runner.start()
            await self._wait_for_audio()
            remote = "remote sessions only" if self.opts.remote_only else None
            self.bus.publish(Ready(input=remote or self.opts.input_wav or "microphone",
                                   output=remote or self.opts.output_wav
                                   or ("none" if self.opts.input_wav else "speaker"),
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
