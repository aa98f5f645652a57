"""Pipeline assembly: which transports and processors a configuration and the CLI options ask for.

    pipeline = Pipeline([input, wake, satellite, turn, stt, assistant, cues, sentences, tts, leveler, output])

The audio front end: the input carries the microphone's filter (``frontend.*``: high-pass, noise
suppression, gain control), and ``leveler`` is there when ``frontend.normalize_output`` is on;
``satellite`` when ``satellite.enabled`` is (Home Assistant's Assist pipeline answers: panikid.satellite).

With ``mqtt.arbitration`` the wake word processor gets a ``WakeArbiter`` on the MQTT surface's broker
(``build_arbiter``): several devices that hear one wake word agree which answers.

Everything a processor needs is given to it here, at construction; what changes later (a command, a
reload) reaches it as an ``UpdateSettingsFrame``, for the keys it declares in ``settings_keys``.
``LIVE_KEYS`` (what a SIGHUP applies without a restart) is the union of those declarations.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import IO

from ..audio.frontend import InputCleaner
from ..brains.actions import parse_actions
from ..brains.context import Conversation, estimate_tokens
from ..brains.intents import Action, ActionSink, IntentHandler
from ..brains.processor import AssistantProcessor
from ..brains.timers import TimerTable
from ..config import Config
from ..control.api import Surface
from ..frontend.processors import ReplyLeveler, microphone_filter
from ..pipeline.processor import FrameProcessor
from ..pipeline.runner import Pipeline
from ..satellite import build_stage as build_satellite
from ..service.testhook import StallHook
from ..speech.feedback import CuePlayer
from ..speech.stt.processor import STTProcessor
from ..speech.tts.processor import SentenceAggregator, TTSProcessor
from ..speech.turn.processor import TurnDetector
from ..speech.wake.arbiter import WakeArbiter
from ..speech.wake.processor import WakeWordProcessor
from ..transports.base import InputTransport, OutputTransport
from ..transports.remote import RemoteFloor
from .components import Components

log = logging.getLogger(__name__)

OWN_KEYS = frozenset({"general.log_level"})
"""Live settings the daemon applies itself; every other live key is a processor's."""
LIVE_PROCESSORS: tuple[type[FrameProcessor], ...] = (WakeWordProcessor, TurnDetector, AssistantProcessor,
                                                     OutputTransport)
"""The processors of the pipeline that apply settings while it runs (each declares its ``settings_keys``)."""
LIVE_KEYS = OWN_KEYS.union(*(p.settings_keys for p in LIVE_PROCESSORS))
"""The keys a reload applies live (panikid.service.reload.plan); any other changed key needs a restart."""


@dataclass
class RunOptions:
    input_wav: str | None = None
    output_wav: str | None = None
    pace: str = "realtime"
    events_out: IO[str] | None = None
    remote_only: bool = False
    """No local microphone or speaker: remote sessions (a browser, a program) only, on real-time silence."""


def build_assistant(cfg: Config, comps: Components, on_action: Callable[[Action], None] | None = None,
                    action_sink: ActionSink | None = None) -> AssistantProcessor:
    """The assistant processor with its router, conversation and intents. Device actions of intents (volume,
    mute) go to ``on_action`` (the daemon's controls), user actions publish through ``action_sink``."""
    c = cfg.context
    count = getattr(comps.llm, "count_tokens", None) or estimate_tokens
    conversation = Conversation(c.max_tokens, c.max_turns, c.idle_reset_seconds, c.strategy, count)
    intents = IntentHandler(TimerTable(cfg.intents.max_timers)) if cfg.intents.enabled else None
    return AssistantProcessor(comps.router or comps.llm, cfg.llm.system_prompt,
                              conversation=conversation, intents=intents, persona=c.persona,
                              on_action=on_action, user_actions=parse_actions(list(cfg.intents.actions)),
                              action_sink=action_sink)


def cancels_echo(transport_in: FrameProcessor) -> bool:
    """The input's front end cancels the echo of what the local speaker plays."""
    cleaner = getattr(transport_in, "audio_filter", None)
    return isinstance(cleaner, InputCleaner) and cleaner.reference is not None


def build_arbiter(cfg: Config, surfaces: Sequence[Surface]) -> WakeArbiter | None:
    """With ``mqtt.arbitration``: the wake arbiter, its claims on the MQTT surface's broker (started)."""
    m = cfg.mqtt
    if not m.arbitration:
        return None
    from ..control.mqtt.arbitration import MqttClaimChannel
    from ..control.mqtt.surface import MqttSurface

    surface = next((sf for sf in surfaces if isinstance(sf, MqttSurface)), None)
    if surface is None:
        log.warning("mqtt.arbitration is on but there is no MQTT surface: this device answers every wake word")
        return None
    channel = MqttClaimChannel(surface, m.topic_prefix, m.arbitration_group)
    arbiter = WakeArbiter(cfg.general.device_id, channel, m.arbitration_window_seconds)
    channel.listen(arbiter.on_message)
    log.info("wake arbitration: group %r on %s, window %.0f ms", m.arbitration_group, channel.topic,
             m.arbitration_window_seconds * 1000)
    return arbiter


def build_pipeline(cfg: Config, comps: Components, transport_in: FrameProcessor,
                   transport_out: FrameProcessor, on_action: Callable[[Action], None] | None = None,
                   action_sink: ActionSink | None = None, stall: StallHook | None = None,
                   arbiter: WakeArbiter | None = None) -> Pipeline:
    """``stall``: a test hook that makes the wake word's model call hang (panikid.service.testhook).
    ``arbiter``: wake arbitration with the other devices (``build_arbiter``).
    The turn detector hides the wake chime from the VAD unless the microphone's echo canceller takes the
    chime out (it hears what the speaker plays, cues included)."""
    wake_cue = comps.cues.get("wake")
    cue_heard = wake_cue is not None and not cancels_echo(transport_in)
    wake = [stall.wrap(e) for e in comps.wake] if stall is not None else comps.wake
    wake_word = WakeWordProcessor(wake, cfg.wake.threshold, cfg.wake.cooldown_seconds,
                                  playback_threshold=cfg.wake.playback_threshold, stop_engines=comps.stop_words,
                                  during_replies=cfg.wake.during_replies, arbiter=arbiter)
    return Pipeline([
        transport_in,
        wake_word,
        *([build_satellite(cfg, lambda: [e.name for e in wake_word.engines])] if cfg.satellite.enabled else []),
        TurnDetector(comps.vad, comps.segmenter(cfg), cfg.vad.pre_roll_seconds,
                     cue_seconds=wake_cue.seconds if wake_cue and cue_heard else 0.0, turn_model=comps.turn_model,
                     model_pause_seconds=cfg.turn.pause_seconds, model_threshold=cfg.turn.threshold),
        STTProcessor(comps.stt),
        build_assistant(cfg, comps, on_action, action_sink),
        CuePlayer(wake_cue, comps.cues.get("end"), comps.cues.get("error"), cfg.cues.not_understood),
        SentenceAggregator(),
        TTSProcessor(comps.tts),
        *([ReplyLeveler(cfg.frontend.output_level_dbfs)] if cfg.frontend.normalize_output else []),
        transport_out,
    ])


def make_transports(
    cfg: Config, opts: RunOptions, voice_rate: int, hold: asyncio.Event | None = None,
    floor: RemoteFloor | None = None,
) -> tuple[FrameProcessor, FrameProcessor]:
    """File transports for --input/--output, local audio devices otherwise (neither with ``remote_only``).
    With the local microphone and speaker both, what the speaker plays is the microphone's echo canceller's
    far end. With a ``floor``, both are wrapped so that a remote session can take the floor."""
    tin, tout = _local_transports(cfg, opts, voice_rate, hold, with_filter=floor is None)
    if floor is None:
        return tin, tout
    from ..transports.floor import FloorInput, FloorOutput

    assert isinstance(tin, InputTransport) and isinstance(tout, OutputTransport)
    reference = getattr(tout, "echo_reference", None)
    duck = getattr(tout, "duck", None)
    cleaner = microphone_filter(cfg.frontend, reference, duck)
    return FloorInput(tin, floor, audio_filter=cleaner), FloorOutput(tout, floor)


def _local_transports(
    cfg: Config, opts: RunOptions, voice_rate: int, hold: asyncio.Event | None, with_filter: bool,
) -> tuple[FrameProcessor, FrameProcessor]:
    from ..audio.duck import Duck
    from ..audio.echo import EchoReference
    from ..transports import file as file_tp
    from ..transports.null import NullOutputTransport

    if opts.remote_only:
        from ..transports.floor import SilenceSource

        return SilenceSource(cfg.audio.frame_ms), NullOutputTransport()
    local_pair = not opts.input_wav and not opts.output_wav
    reference = EchoReference() if local_pair and cfg.frontend.echo_cancellation else None
    duck = Duck() if reference is not None and cfg.frontend.duck_db > 0 else None

    tin: FrameProcessor
    tout: FrameProcessor
    if opts.input_wav:
        tin = file_tp.FileInputTransport(opts.input_wav, pace=opts.pace, frame_ms=cfg.audio.frame_ms,
                                         hold=hold if opts.pace == "fast" else None,
                                         audio_filter=microphone_filter(cfg.frontend) if with_filter else None)
    else:
        from ..transports import local

        tin = local.LocalAudioInputTransport(
            cfg.audio, audio_filter=microphone_filter(cfg.frontend, reference, duck) if with_filter else None)
    if opts.output_wav:
        tout = file_tp.FileOutputTransport(opts.output_wav, pace=opts.pace, sample_rate=voice_rate)
    elif opts.input_wav:
        # A file as the microphone and no --output: the reply is not played anywhere,
        # but it is still produced and evented.
        tout = NullOutputTransport()
    else:
        from ..transports import local

        tout = local.LocalAudioOutputTransport(cfg.audio, voice_sample_rate=voice_rate, echo_reference=reference,
                                               duck=duck)
    return tin, tout
