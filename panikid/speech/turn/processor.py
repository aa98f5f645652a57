"""Turn detector: after the wake word, VAD + the end-of-turn segmenter cut the user's utterance.

A turn starts at the wake word (or a ``listen`` command) and first waits for
the command to begin, up to ``vad.no_speech_seconds``: the wake word's own
audio, the silence after it and the wake chime never end the turn, and never
reach speech-to-text. The detector keeps a short ring buffer of recent audio,
so a turn can start slightly before the wake word was reported
(``pre_roll_seconds``) and a command spoken straight after the wake word is
kept whole. VAD only runs during a turn, so the idle cost is the wake word
alone.

The decisions, one per VAD frame, pass three pure stages: ``CueMask`` (the
chime heard by the microphone), ``WakeTailTrimmer`` (where the wake word
ends) and ``EndOfTurnSegmenter`` (speech started / ended).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Mapping
from typing import Any, Protocol

from ...audio.chunker import Chunker
from ...events.schema import NoSpeech, SpeechStarted, SpeechStopped, TurnAbandoned
from ...pipeline.frames import (
    SAMPLE_RATE,
    DataFrame,
    EndFrame,
    InputAudioFrame,
    ListenFrame,
    ListeningFrame,
    MuteFrame,
    SpeculationFrame,
    SystemFrame,
    TurnAbandonedFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
    UtteranceFrame,
    WakeWordFrame,
)
from ...pipeline.processor import FrameProcessor
from ...pipeline.turns import next_turn_id
from .gates import CueMask, WakeTailTrimmer
from .patience import silence_for
from .segmenter import EndOfTurnSegmenter, Segment
from .vad import VadEngine

log = logging.getLogger(__name__)

RING_SECONDS = 3.0
WAKE_GAP_SECONDS = 0.09
"""A pause this long separates the wake word from what follows."""
WAKE_END_MARGIN = 0.15
"""The wake word has ended by its detection plus this (an engine may fire just before its last sound)."""
SAME_BREATH_SECONDS = 1.2
"""Speech running this long from the turn's start with no pause is the command in the same breath."""
TAIL_SECONDS = 0.2
"""Audio kept after the last speech frame (word endings VAD calls silence)."""
LEAD_SECONDS = 0.25
"""Audio kept before the first speech frame (soft onsets VAD calls silence); earlier silence is cut."""
CUE_ECHO_SECONDS = 0.3
"""After a cue starts, how long its sound may still reach the microphone (output latency and the room)."""
OFFSET_FRAMES = 64
"""Input frames over which the stream-time-to-clock offset is estimated (their least delayed one)."""
MODEL_LEAD_SECONDS = 0.5
"""The end-of-turn model hears this much before the speech started (as Pipecat feeds Smart Turn)."""
SPECULATE_SECONDS = 0.2
"""At a pause this long the utterance so far is sent to speech-to-text ahead (reused if the turn ends there)."""


class EndOfTurnModel(Protocol):
    """Does the turn so far sound finished? (blocking: run in a worker thread)"""

    def probability(self, pcm16: bytes) -> float: ...

class TurnDetector(FrameProcessor):
    settings_keys = frozenset({
        "vad.speech_seconds", "vad.silence_seconds", "vad.max_seconds", "vad.no_speech_seconds",
        "vad.pre_roll_seconds", "turn.pause_seconds", "turn.threshold", "turn.max_pause_seconds",
        "turn.end_of_turn",
    })

    def __init__(
        self,
        vad: VadEngine,
        segmenter: EndOfTurnSegmenter,
        pre_roll_seconds: float = 0.0,
        cue_seconds: float = 0.0,
        turn_model: EndOfTurnModel | None = None,
        model_pause_seconds: float = 0.2,
        model_threshold: float = 0.5,
    ) -> None:
        super().__init__("turn")
        self.vad = vad
        self.segmenter = segmenter
        self.pre_roll = pre_roll_seconds
        self.cue_seconds = cue_seconds
        """Length of the cue played when a turn starts (0: none), hidden from the segmenter."""
        self.turn_model = turn_model
        """Asked at each pause of ``model_pause_seconds`` whether the turn is over; the segmenter's
        silence then only ends a turn the model thinks unfinished."""
        self.model_pause = model_pause_seconds
        self.model_threshold = model_threshold
        self.configured_silence = segmenter.silence_seconds
        """The silence that ends a turn as configured; the end-of-turn level scales it."""
        self.end_of_turn = "default"
        """The end-of-turn sensitivity (``relaxed``, ``default``, ``aggressive``: speech.turn.patience)."""
        self._pause_acted: tuple[float | None, float | None] = (None, None)  # (speculated, asked) at speech_end
        self.muted = False
        self._chunker = Chunker(vad.frame_samples)
        self._ring = bytearray()
        self._ring_start = 0  # stream sample index of _ring[0]
        self._offsets: deque[float] = deque(maxlen=OFFSET_FRAMES)
        self._turn = 0
        self._utt = bytearray()
        self._utt_start = 0  # stream sample index of _utt[0] (the segmenter's time 0 once released)
        self._trimmer: WakeTailTrimmer | None = None
        self._held: list[bool] = []
        self._mask: CueMask | None = None
        self._cue_window: tuple[int, int] | None = None  # stream samples where the cue may be heard

    @property
    def active(self) -> bool:
        return self._turn != 0

    @property
    def _frame_s(self) -> float:
        return self.vad.frame_samples / SAMPLE_RATE

    def apply_settings(self, settings: Mapping[str, Any]) -> None:
        """Timings from the next VAD frame on. With an end-of-turn model, the silence that ends a turn
        is the longest pause waited out (``turn.max_pause_seconds``), else ``vad.silence_seconds``;
        the end-of-turn level (``turn.end_of_turn``) scales it."""
        seg = self.segmenter
        silence = "turn.max_pause_seconds" if self.turn_model is not None else "vad.silence_seconds"
        level = str(settings.get("turn.end_of_turn", self.end_of_turn))
        configured = float(settings.get(silence, self.configured_silence))
        seg.silence_seconds = silence_for(level, configured)  # an unknown level is refused before any change
        self.end_of_turn, self.configured_silence = level, configured
        for key, attr in (("vad.speech_seconds", "speech_seconds"),
                          ("vad.max_seconds", "max_seconds"), ("vad.no_speech_seconds", "no_speech_seconds")):
            if key in settings:
                setattr(seg, attr, float(settings[key]))
        self.pre_roll = float(settings.get("vad.pre_roll_seconds", self.pre_roll))
        self.model_pause = float(settings.get("turn.pause_seconds", self.model_pause))
        self.model_threshold = float(settings.get("turn.threshold", self.model_threshold))

    def on_system_frame(self, frame: SystemFrame) -> None:
        if isinstance(frame, MuteFrame):
            self.muted = frame.muted
            if frame.muted and self.active:
                turn = self._turn
                self._end_turn()
                self.events.publish(TurnAbandoned(turn=turn, reason="muted"))
                self.deliver(TurnAbandonedFrame(turn, "muted"))

    # ------------------------------------------------------------ frames
    async def process_frame(self, frame: DataFrame) -> None:
        if isinstance(frame, InputAudioFrame):
            self._remember(frame)
            if self.active:
                await self._feed(frame.pcm)
        elif isinstance(frame, WakeWordFrame):
            if not self.muted:
                await self._start_turn(frame.t - self.pre_roll, detected_t=frame.t)
        elif isinstance(frame, ListenFrame):
            await self._start_turn(None, no_speech_seconds=frame.no_speech_seconds, reason=frame.reason)
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
        self._offsets.append(self.events.now() - (frame.t + frame.duration))

    def _clock_t(self, stream_t: float) -> float | None:
        """Where stream time ``stream_t`` falls on the event clock (live or real-time input only)."""
        if not self._offsets:
            return None
        return stream_t + min(self._offsets)

    async def _start_turn(
        self, start_t: float | None, *, detected_t: float | None = None,
        no_speech_seconds: float = 0.0, reason: str = "wake",
    ) -> None:
        if self.active:
            log.info("turn %d restarted by a new wake word", self._turn)
            self._end_turn()
        self._turn = next_turn_id()
        self.segmenter.reset(no_speech_seconds or None)
        self._chunker.reset()
        self.vad.reset()
        self._held = []
        self._pause_acted = (None, None)
        ring_end = self._ring_start + len(self._ring) // 2
        start = ring_end if start_t is None else min(max(round(start_t * SAMPLE_RATE), self._ring_start), ring_end)
        backlog = bytes(self._ring[(start - self._ring_start) * 2 :])
        self._utt = bytearray()
        self._utt_start = start
        self._cue_window = None
        if self.cue_seconds > 0:
            self._cue_window = (ring_end, ring_end + round((self.cue_seconds + CUE_ECHO_SECONDS) * SAMPLE_RATE))
        self._trimmer = None
        self._mask = self._new_mask()
        if detected_t is not None:
            wake_end = (detected_t + WAKE_END_MARGIN) * SAMPLE_RATE - start
            self._trimmer = WakeTailTrimmer(
                wake_end=max(0, round(wake_end / self.vad.frame_samples)),
                min_gap=max(2, round(WAKE_GAP_SECONDS / self._frame_s)),
                max_frames=round((self.pre_roll + SAME_BREATH_SECONDS) / self._frame_s),
            )
        await self.push_frame(ListeningFrame(self._turn, reason))
        if backlog:
            await self._feed(backlog)

    def _new_mask(self) -> CueMask | None:
        """The cue's window in VAD frames from the turn's start (``_utt_start``)."""
        if self._cue_window is None:
            return None
        a, b = (round((t - self._utt_start) / self.vad.frame_samples) for t in self._cue_window)
        if b <= 0:
            return None
        return CueMask(max(0, a), b, min_gap=max(2, round(WAKE_GAP_SECONDS / self._frame_s)))

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
            # The cue first: its sound must neither lengthen the wake word nor start the command.
            masked = [speech] if self._mask is None else self._mask.process(speech, self.segmenter.in_speech)
            for d in masked:
                if not self.active:
                    return
                await self._after_mask(d)

    async def _after_mask(self, speech: bool) -> None:
        if self._trimmer is None:
            await self._segment(speech)
            return
        # Hold decisions back until the wake word's end is known.
        self._held.append(speech)
        drop = self._trimmer.process(speech)
        if drop is not None:
            await self._release_held(drop)

    async def _release_held(self, drop: int) -> None:
        """The wake word's end is known: drop its audio, replay the rest."""
        if drop:
            del self._utt[: drop * self.vad.frame_samples * 2]
            self._utt_start += drop * self.vad.frame_samples
        held, self._held, self._trimmer = self._held[drop:], [], None
        for speech in held:
            if not self.active:
                return
            await self._segment(speech)

    async def _segment(self, speech: bool) -> None:
        seg = self.segmenter.process(self._frame_s, speech)
        if seg is not None:
            await self._on_segment(seg)
        elif not speech and self.segmenter.in_speech:
            await self._at_pause()

    async def _at_pause(self) -> None:
        """A pause in the user's speech: transcribe ahead, and ask the end-of-turn model."""
        seg = self.segmenter
        speculated, asked = self._pause_acted
        pause = seg.pause_seconds
        if pause >= SPECULATE_SECONDS - 1e-9 and speculated != seg.speech_end:
            self._pause_acted = speculated, asked = seg.speech_end, asked
            await self.push_frame(SpeculationFrame(self._turn, self._utterance_pcm()))
        if self.turn_model is None or pause < self.model_pause - 1e-9 or asked == seg.speech_end:
            return
        self._pause_acted = speculated, seg.speech_end
        turn, model = self._turn, self.turn_model
        pcm = self._utterance_pcm(with_pause=True, lead=MODEL_LEAD_SECONDS)
        started = time.perf_counter()
        p = await self.run_blocking(model.probability, pcm)
        log.debug("turn %d: end-of-turn probability %.2f after a %.2f s pause (%.0f ms)", turn, p, pause,
                  (time.perf_counter() - started) * 1000)
        if self._turn == turn and p >= self.model_threshold:
            await self._complete(reason="turn_model", turn_model_probability=round(p, 3))

    def _utterance_pcm(self, with_pause: bool = False, lead: float = LEAD_SECONDS) -> bytes:
        """The utterance as it would be cut now (``with_pause``: up to the latest audio)."""
        seg = self.segmenter
        assert seg.speech_start is not None and seg.speech_end is not None
        first = max(0, int((seg.speech_start - lead) * SAMPLE_RATE)) * 2
        if with_pause:
            return bytes(self._utt[first : int(seg.elapsed * SAMPLE_RATE) * 2])
        end = min(len(self._utt), int((seg.speech_end + TAIL_SECONDS) * SAMPLE_RATE) * 2)
        return bytes(self._utt[first:end])

    def _stream_t(self, seg_t: float) -> float:
        return self._utt_start / SAMPLE_RATE + seg_t

    async def _on_segment(self, seg: Segment) -> None:
        turn = self._turn
        if seg is Segment.SPEECH_STARTED:
            assert self.segmenter.speech_start is not None
            self.events.publish(SpeechStarted(turn=turn,
                                              stream_t=round(self._stream_t(self.segmenter.speech_start), 3)))
            await self.push_frame(UserStartedSpeakingFrame(turn, self.events.now()))
        elif seg in (Segment.SPEECH_ENDED, Segment.MAX_LENGTH):
            await self._complete(reason=seg.value)
        elif seg is Segment.NO_SPEECH:
            await self._abandon_without_speech("no speech after the wake word")

    async def _complete(self, reason: str, turn_model_probability: float | None = None) -> None:
        turn = self._turn
        seg = self.segmenter
        assert seg.speech_end is not None and seg.speech_start is not None
        pcm = self._utterance_pcm()
        speech_end = self._stream_t(seg.speech_end)
        clock_t = self._clock_t(speech_end)
        self.events.publish(SpeechStopped(
            turn=turn, reason=reason,
            speech_seconds=round(seg.speech_end - seg.speech_start, 2),
            voiced_seconds=round(seg.voiced_seconds, 2),
            stream_t=round(speech_end, 3),
            speech_end_t=round(clock_t, 3) if clock_t is not None else None,
            turn_model_probability=turn_model_probability,
        ))
        self._end_turn()
        await self.push_frame(UserStoppedSpeakingFrame(turn, self.events.now()))
        await self.push_frame(UtteranceFrame(turn, pcm, speech_seconds=round(seg.voiced_seconds, 2)))

    async def _abandon_without_speech(self, detail: str) -> None:
        turn = self._turn
        self._end_turn()
        self.events.publish(NoSpeech(turn=turn))
        self.events.publish(TurnAbandoned(turn=turn, reason="no_speech", detail=detail))
        await self.push_frame(TurnAbandonedFrame(turn, "no_speech"))

    async def _finish_at_end_of_input(self) -> None:
        if not self.active:
            return
        if self._mask is not None:
            for d in self._mask.flush():
                if not self.active:
                    return
                await self._after_mask(d)
        if self.active and self._trimmer is not None:
            await self._release_held(self._trimmer.finish())
        if not self.active:
            return
        if self.segmenter.in_speech:
            await self._complete(reason="end_of_input")
        else:
            await self._abandon_without_speech("the input ended before the command began")

    def _end_turn(self) -> None:
        self._turn = 0
        self._utt = bytearray()
        self._trimmer = None
        self._mask = None
        self._held = []
