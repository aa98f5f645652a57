"""The satellite's pipeline stage, right after the wake word: while Home Assistant runs the satellite,
a wake word starts a turn in Home Assistant's Assist pipeline instead of panikid's own.

    wake word -> detection, run-pipeline (speech-to-text to text-to-speech), audio-start, the microphone
                 from the wake word on (audio-chunk ...)
    Home Assistant -> voice-stopped / transcript (the command is over: the streaming stops),
                 synthesize (the reply's text), audio-start, audio-chunk ..., audio-stop (the reply),
                 or error
    panikid -> played, once the reply has been heard (or cut off)
    Home Assistant -> timer-started, -updated, -cancelled, -finished (its timers; a finished one is said aloud)

The wake word is not passed on, so the local turn detector never starts a turn; the wake cue plays as
ever (a ``ListeningFrame``), and the reply is played by the output as any reply (``OutputAudioFrame``s,
then a ``TTSStoppedFrame``), so barge-in, volume and echo cancellation apply to it too. Audio Home
Assistant sends outside a turn (an announcement) is played as a turn of its own.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass

from wyoming.audio import AudioChunk, AudioChunkConverter, AudioStart, AudioStop
from wyoming.pipeline import PipelineStage, RunPipeline
from wyoming.snd import Played
from wyoming.wake import Detection

from ..events import Event, EventBus
from ..events.satellite import SatelliteEnded, SatelliteHeard, SatelliteReply, SatelliteTimer, SatelliteTurn
from ..events.schema import AudioStopped
from ..pipeline.frames import (
    SAMPLE_RATE,
    DataFrame,
    ErrorFrame,
    InputAudioFrame,
    InterruptionFrame,
    ListeningFrame,
    MuteFrame,
    OutputAudioFrame,
    SystemFrame,
    TTSSpeakFrame,
    TTSStoppedFrame,
    WakeWordFrame,
)
from ..pipeline.processor import FrameProcessor
from ..pipeline.turns import next_turn_id
from .announce import Announcer
from .link import SatelliteLink
from .timers import Timer, TimerTable, rang

log = logging.getLogger(__name__)

RING_SECONDS = 2.0
"""Microphone audio kept back: the wake word is placed where it ended, a little before it is reported
(and a held wake word, while devices decide who answers, comes later still)."""


@dataclass
class _Turn:
    turn: int
    streaming: bool = True
    streamed: float = 0.0  # seconds of microphone audio sent
    replied: bool = False  # its reply's audio has started
    cancelled: bool = False  # cut off here (stop, mute): what Home Assistant still sends is not played


@dataclass
class _Playback:
    turn: int
    converter: AudioChunkConverter
    played: bool = True  # False: cancelled, its audio is dropped (Home Assistant is still told it was played)


class SatelliteProcessor(FrameProcessor):
    def __init__(self, link: SatelliteLink, max_listen_seconds: float = 15.0,
                 announcer: Announcer | None = None) -> None:
        super().__init__("satellite")
        self.server = link
        self.announcer = announcer
        self.max_listen = max_listen_seconds
        self.muted = False
        self.turns = 0
        """Turns handed to Home Assistant."""
        self._ring: deque[InputAudioFrame] = deque()
        self._turn: _Turn | None = None
        self._playback: _Playback | None = None
        self._awaiting_played: set[int] = set()
        self._reply_text = ""
        self._announcing: asyncio.Task[None] | None = None
        self.timers = TimerTable()

    async def setup(self, events: EventBus) -> None:
        await super().setup(events)
        events.listen(self._on_event)
        try:
            await self.server.start(self)
        except OSError as exc:  # the device still answers by itself
            self.report_error(str(exc))
            return
        if self.announcer is not None:  # mDNS probing takes a second or two: not on the way to "ready"
            self._announcing = asyncio.create_task(self.announcer.start(self.server.bound_port))

    async def cleanup(self) -> None:
        if self._announcing is not None:
            await asyncio.wait([self._announcing], timeout=5.0)
        if self.announcer is not None:
            await self.announcer.stop()
        await self.server.stop()
        await super().cleanup()

    # ------------------------------------------------------------------ the pipeline's side
    def on_system_frame(self, frame: SystemFrame) -> None:
        if isinstance(frame, MuteFrame):
            self.muted = frame.muted
            if frame.muted:
                self._cancel("muted")
        elif isinstance(frame, InterruptionFrame) and frame.reason != "wake":
            self._cancel(frame.reason)  # a wake word's own interruption is followed by its new turn

    async def process_frame(self, frame: DataFrame) -> None:
        if isinstance(frame, InputAudioFrame):
            self._remember(frame)
            await self.push_frame(frame)
            turn = self._turn
            if turn is not None and turn.streaming:
                self._stream(turn, frame.pcm)
            return
        if isinstance(frame, WakeWordFrame) and self.server.active and not self.muted:
            await self._hand_over(frame)
            return
        await self.push_frame(frame)

    def _remember(self, frame: InputAudioFrame) -> None:
        self._ring.append(frame)
        while self._ring and frame.t - self._ring[0].t > RING_SECONDS:
            self._ring.popleft()

    async def _hand_over(self, wake: WakeWordFrame) -> None:
        """The turn goes to Home Assistant, with the audio from where the wake word ended."""
        if self._turn is not None and self._turn.streaming:
            self._end_stream(self._turn)
        turn = _Turn(next_turn_id())
        started = self.server.send(
            Detection(name=wake.model, timestamp=round(wake.t * 1000)).event(),
            RunPipeline(start_stage=PipelineStage.ASR, end_stage=PipelineStage.TTS,
                        wake_word_name=wake.model).event(),
            AudioStart(rate=SAMPLE_RATE, width=2, channels=1, timestamp=0).event(),
        )
        if not started:  # the connection went just now: panikid answers itself
            await self.push_frame(wake)
            return
        self.turns += 1
        self._turn = turn
        self._reply_text = ""
        log.info("satellite: turn %d goes to Home Assistant (%s)", turn.turn, self.server.peer)
        self.events.publish(SatelliteTurn(turn=turn.turn, model=wake.model, peer=self.server.peer))
        await self.push_frame(ListeningFrame(turn.turn, "satellite"))
        for frame in list(self._ring):
            end = frame.t + frame.duration
            if end <= wake.t:
                continue
            skip = max(0, round((wake.t - frame.t) * SAMPLE_RATE)) * 2
            self._stream(turn, frame.pcm[skip:])

    def _stream(self, turn: _Turn, pcm: bytes) -> None:
        if not pcm:
            return
        chunk = AudioChunk(rate=SAMPLE_RATE, width=2, channels=1, audio=pcm, timestamp=round(turn.streamed * 1000))
        turn.streamed += len(pcm) / 2 / SAMPLE_RATE
        if not self.server.send(chunk.event()):
            turn.streaming = False
            return
        if turn.streamed >= self.max_listen:
            log.info("satellite: turn %d reached satellite.max_listen_seconds (%.0f s)", turn.turn, self.max_listen)
            self._end_stream(turn)

    def _end_stream(self, turn: _Turn) -> None:
        """The command is over: Home Assistant is told (it transcribes what it has)."""
        if turn.streaming:
            turn.streaming = False
            self.server.send(AudioStop(timestamp=round(turn.streamed * 1000)).event())

    def _cancel(self, reason: str) -> None:
        turn = self._turn
        if turn is not None and not turn.cancelled:
            self._end_stream(turn)
            turn.cancelled = True
            if not turn.replied:
                self.events.publish(SatelliteEnded(turn=turn.turn, reason=reason))
        if self._playback is not None:
            self._playback.played = False

    # ------------------------------------------------------------------ Home Assistant's side
    def on_run(self, peer: str) -> None:
        log.info("satellite: Home Assistant (%s) runs the satellite: wake words go to it", peer)

    def on_pause(self, reason: str) -> None:
        turn, self._turn = self._turn, None
        if turn is not None and not turn.replied and not turn.cancelled:
            self.events.publish(SatelliteEnded(turn=turn.turn, reason="disconnected", message=reason))
        if self._playback is not None:  # what arrived of a reply still plays
            self.deliver(TTSStoppedFrame(self._playback.turn))
            self._playback = None

    def on_voice_stopped(self) -> None:
        if self._turn is not None:
            self._turn.streaming = False  # Home Assistant heard the end of the command

    def on_transcript(self, text: str) -> None:
        turn = self._turn
        if turn is None:
            return
        turn.streaming = False
        if not turn.cancelled:
            self.events.publish(SatelliteHeard(turn=turn.turn, text=text))

    def on_synthesize(self, text: str) -> None:
        self._reply_text = text
        turn = self._turn
        if turn is not None and not turn.replied and not turn.cancelled:
            self.events.publish(SatelliteReply(turn=turn.turn, text=text))

    def on_audio_start(self, rate: int, width: int, channels: int) -> None:
        if self._playback is not None:  # a reply without its audio-stop
            self.on_audio_stop()
        turn = self._turn
        converter = AudioChunkConverter(width=2, channels=1)
        if turn is not None and not turn.replied:
            turn.replied, turn.streaming = True, False
            self._playback = _Playback(turn.turn, converter, played=not turn.cancelled)
        else:  # an announcement
            number = next_turn_id()
            self._playback = _Playback(number, converter)
            self.events.publish(SatelliteReply(turn=number, text=self._reply_text))
        self._reply_text = ""

    def on_audio_chunk(self, chunk: AudioChunk) -> None:
        if self._playback is None:
            self.on_audio_start(chunk.rate, chunk.width, chunk.channels)
        play = self._playback
        assert play is not None
        if play.played and chunk.audio:
            mono = play.converter.convert(chunk)
            self.deliver(OutputAudioFrame(play.turn, mono.audio, mono.rate))

    def on_audio_stop(self) -> None:
        play, self._playback = self._playback, None
        if play is None:
            return
        if play.played:
            self._awaiting_played.add(play.turn)
            self.deliver(TTSStoppedFrame(play.turn))
        else:
            self.server.send(Played().event())
        if self._turn is not None and self._turn.turn == play.turn:
            self._turn = None

    def on_error(self, text: str, code: str | None) -> None:
        turn, self._turn = self._turn, None
        log.warning("satellite: Home Assistant reports %s: %s", code or "an error", text)
        if turn is None or turn.cancelled:
            return
        self.events.publish(SatelliteEnded(turn=turn.turn, reason="error", code=code, message=text))
        self.deliver(ErrorFrame(where="satellite", message=text, turn=turn.turn))  # the error cue

    def on_timer(self, status: str, id: str, seconds: int | None, name: str | None) -> None:
        if status == "started":
            timer = self.timers.started(id, seconds, name)
        elif status == "updated":
            timer = self.timers.updated(id, seconds)
        else:
            timer = self.timers.ended(id) or Timer(id, seconds, name)  # one it was not told of
        self.events.publish(SatelliteTimer(timer=id, status=status, seconds=timer.seconds, name=timer.name))
        if status == "finished":  # Home Assistant counts, the satellite rings: said aloud, as a turn of its own
            self.deliver(TTSSpeakFrame(next_turn_id(), rang(timer), last=True))

    def _on_event(self, e: Event) -> None:
        body = e.body
        if isinstance(body, AudioStopped) and body.turn in self._awaiting_played:
            self._awaiting_played.discard(body.turn)
            self.server.send(Played().event())
