"""Turn detector: after the wake word, VAD + the end-of-turn segmenter cut the user's utterance.

It keeps a short ring buffer of recent audio, so a turn can start slightly
before the wake word was reported (``pre_roll_seconds``) and a command spoken
straight after the wake word is kept whole. VAD only runs during a turn, so the
idle cost is the wake word alone.
"""

from __future__ import annotations

import itertools
import logging

from . import events as ev
from .frames import (
    SAMPLE_RATE,
    DataFrame,
    EndFrame,
    InputAudioFrame,
    ListenFrame,
    MuteFrame,
    SystemFrame,
    TurnAbandonedFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
    UtteranceFrame,
    WakeWordFrame,
)
from .processor import FrameProcessor
from .segmenter import EndOfTurnSegmenter, Segment, WakeTailTrimmer
from .vad import VadChunker, VadEngine

log = logging.getLogger(__name__)

RING_SECONDS = 3.0
WAKE_GAP_SECONDS = 0.09
"""A pause this long after speech at the start of a turn ends the wake word."""
WAKE_TAIL_WINDOW = 0.6
"""How long after the wake word's detection a pause may still end it."""
TAIL_SECONDS = 0.2
"""Audio kept after the last speech frame (word endings VAD calls silence)."""

_turn_ids = itertools.count(1)


def next_turn_id() -> int:
    return next(_turn_ids)


class TurnDetector(FrameProcessor):
    def __init__(
        self,
        vad: VadEngine,
        segmenter: EndOfTurnSegmenter,
        pre_roll_seconds: float = 0.0,
    ) -> None:
        super().__init__("turn")
        self.vad = vad
        self.segmenter = segmenter
        self.pre_roll = pre_roll_seconds
        self.muted = False
        self._chunker = VadChunker(vad.frame_samples)
        self._ring = bytearray()
        self._ring_start = 0  # stream sample index of _ring[0]
        self._turn = 0
        self._utt = bytearray()
        self._trimmer: WakeTailTrimmer | None = None
        self._held: list[bool] = []

    @property
    def active(self) -> bool:
        return self._turn != 0

    def on_system_frame(self, frame: SystemFrame) -> None:
        if isinstance(frame, MuteFrame):
            self.muted = frame.muted
            if frame.muted and self.active:
                turn = self._turn
                self._end_turn()
                self.deliver(TurnAbandonedFrame(turn, "muted"))

    # ------------------------------------------------------------ frames
    async def process_frame(self, frame: DataFrame) -> None:
        if isinstance(frame, InputAudioFrame):
            self._remember(frame)
            if self.active:
                await self._feed(frame.pcm)
        elif isinstance(frame, WakeWordFrame):
            if not self.muted:
                await self._start_turn(start_t=frame.t - self.pre_roll)
        elif isinstance(frame, ListenFrame):
            await self._start_turn(start_t=None, no_speech_seconds=frame.no_speech_seconds)
        elif isinstance(frame, EndFrame):
            await self._finish_at_end_of_input()
            await self.push_frame(frame)
        else:
            await self.push_frame(frame)

    def _remember(self, frame: InputAudioFrame) -> None:
        first = round(frame.t * SAMPLE_RATE)
        if not self._ring:
            self._ring_start = first
        self._ring += frame.pcm
        excess = len(self._ring) - int(RING_SECONDS * SAMPLE_RATE) * 2
        if excess > 0:
            excess -= excess % 2
            del self._ring[:excess]
            self._ring_start += excess // 2

    async def _start_turn(self, start_t: float | None, no_speech_seconds: float = 0.0) -> None:
        if self.active:
            log.info("turn %d restarted by a new wake word", self._turn)
            self._end_turn()
        self._turn = next_turn_id()
        self.segmenter.reset(no_speech_seconds or None)
        self._chunker.reset()
        self.vad.reset()
        self._utt = bytearray()
        self._trimmer = None
        self._held = []
        ring_end = self._ring_start + len(self._ring) // 2
        if start_t is None:
            start = ring_end
        else:
            start = min(max(round(start_t * SAMPLE_RATE), self._ring_start), ring_end)
        backlog = bytes(self._ring[(start - self._ring_start) * 2 :])
        if start_t is not None:
            frame_s = self.vad.frame_samples / SAMPLE_RATE
            self._trimmer = WakeTailTrimmer(
                min_gap=max(2, round(WAKE_GAP_SECONDS / frame_s)),
                keep=max(1, round(0.06 / frame_s)),
                max_frames=round((self.pre_roll + WAKE_TAIL_WINDOW) / frame_s),
            )
        if backlog:
            await self._feed(backlog)

    async def _feed(self, pcm: bytes) -> None:
        self._utt += pcm
        frames = self._chunker.push(pcm)
        if not frames:
            return
        if self.vad.heavy:
            decisions = await self.run_blocking(lambda: [self.vad.is_speech(f) for f in frames])
        else:
            decisions = [self.vad.is_speech(f) for f in frames]
        for speech in decisions:
            if not self.active:
                return
            if self._trimmer is not None:
                # Hold decisions back until the wake word's tail is known.
                self._held.append(speech)
                drop = self._trimmer.process(speech)
                if drop is not None:
                    await self._release_held(drop)
                continue
            await self._segment(speech)

    async def _release_held(self, drop: int) -> None:
        """The start of the command is known: drop the wake word's tail, replay the rest."""
        if drop:
            del self._utt[: drop * self.vad.frame_samples * 2]
        held, self._held, self._trimmer = self._held[drop:], [], None
        for speech in held:
            if not self.active:
                return
            await self._segment(speech)

    async def _segment(self, speech: bool) -> None:
        seg = self.segmenter.process(self.vad.frame_samples / SAMPLE_RATE, speech)
        if seg is not None:
            await self._on_segment(seg)

    async def _on_segment(self, seg: Segment) -> None:
        turn = self._turn
        if seg is Segment.SPEECH_STARTED:
            self.events.publish(ev.SPEECH_STARTED, turn=turn)
            await self.push_frame(UserStartedSpeakingFrame(turn, self.events.now()))
        elif seg in (Segment.SPEECH_ENDED, Segment.MAX_LENGTH):
            await self._complete(reason=seg.value)
        elif seg is Segment.NO_SPEECH:
            self.events.publish(ev.NO_SPEECH, turn=turn)
            self._end_turn()
            await self.push_frame(TurnAbandonedFrame(turn, "no speech after the wake word"))

    async def _complete(self, reason: str) -> None:
        turn = self._turn
        seg = self.segmenter
        assert seg.speech_end is not None and seg.speech_start is not None
        end = min(len(self._utt), int((seg.speech_end + TAIL_SECONDS) * SAMPLE_RATE) * 2)
        pcm = bytes(self._utt[:end])
        self.events.publish(
            ev.SPEECH_STOPPED, turn=turn, reason=reason,
            speech_seconds=round(seg.speech_end - seg.speech_start, 2),
        )
        self._end_turn()
        await self.push_frame(UserStoppedSpeakingFrame(turn, self.events.now()))
        await self.push_frame(UtteranceFrame(turn, pcm))

    async def _finish_at_end_of_input(self) -> None:
        if not self.active:
            return
        if self._trimmer is not None:
            await self._release_held(self._trimmer.finish())
            if not self.active:
                return
        if self.segmenter.in_speech:
            await self._complete(reason="end_of_input")
        else:
            turn = self._turn
            self._end_turn()
            self.events.publish(ev.NO_SPEECH, turn=turn)
            await self.push_frame(TurnAbandonedFrame(turn, "input ended before speech"))

    def _end_turn(self) -> None:
        self._turn = 0
        self._utt = bytearray()
        self._trimmer = None
        self._held = []
