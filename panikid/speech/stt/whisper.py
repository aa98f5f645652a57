"""Speech to text with faster-whisper (CTranslate2), entirely in a worker thread.

faster-whisper's ``transcribe`` returns a *lazy* generator: the decoding happens
while it is iterated, so the iteration happens inside the worker thread too.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import numpy as np

from .hearing import Heard, compression_ratio

log = logging.getLogger(__name__)

# Whisper's way of saying "nothing intelligible": not a request.
_NOISE = re.compile(r"\[[^\]]*\]|\([^)]*\)|♪")


CONTEXT_PADDING_FRAMES = 1000
"""Adaptive audio context: the encoder sees the utterance plus 10 s of silence.

Whisper's encoder always runs over 30 s (3000 mel frames), which costs most of
the STT time for a 2 s command. Encoding only the utterance plus 10 s of
padding is ~4x faster and, measured on spoken commands, gives the same text;
with less padding the decoder tends to repeat itself. A decode that runs into
its token limit (a loop) is redone over the full 30 s.
"""
FULL_FRAMES = 3000
RECORDING_EDGE_SECONDS = 0.5


class WhisperEngine:
    def __init__(
        self,
        model_dir: Path,
        language: str = "en",
        beam_size: int = 1,
        compute_type: str = "int8",
        threads: int = 0,
        audio_context: str = "adaptive",
    ) -> None:
        from faster_whisper import WhisperModel
        from faster_whisper.tokenizer import Tokenizer
        from faster_whisper.transcribe import get_suppressed_tokens

        self.language = language
        self.beam_size = beam_size
        self.audio_context = audio_context
        self.model = WhisperModel(
            str(model_dir),
            device="cpu",
            compute_type=compute_type,
            cpu_threads=threads or (os.cpu_count() or 1),
            local_files_only=True,
        )
        multilingual = self.model.model.is_multilingual
        self._tokenizer = Tokenizer(
            self.model.hf_tokenizer, multilingual, task="transcribe",
            language=language if multilingual else None,
        )
        self._prompt = [*self._tokenizer.sot_sequence, self._tokenizer.no_timestamps]
        self._suppress = get_suppressed_tokens(self._tokenizer, (-1,))
        self.fallbacks = 0

    def transcribe(self, pcm: bytes, beam_size: int | None = None) -> str:
        """16 kHz mono s16le in, text out (blocking: call from a worker thread).

        ``beam_size`` overrides the configured one for this call: greedy
        decoding (beam 1) is fastest but now and then ends a multi-sentence
        recording after its first sentence; a beam of 5 does not.
        """
        return self.hear(pcm, beam_size).text

    def hear(self, pcm: bytes, beam_size: int | None = None) -> Heard:
        """The transcript with the decoder's confidence (for ``panikid.hearing.judge``)."""
        beam = beam_size or self.beam_size
        audio = np.frombuffer(pcm, dtype=np.int16).astype(np.float32) / 32768.0
        if self.audio_context == "adaptive":
            heard = self._transcribe_short(audio, beam)
            if heard is not None:
                return heard
            self.fallbacks += 1
        segments, _info = self.model.transcribe(
            audio,
            language=self.language,
            beam_size=beam,
            condition_on_previous_text=False,
            without_timestamps=True,
            vad_filter=False,
        )
        parts = list(segments)  # decoding happens here
        text = clean_transcript(" ".join(s.text.strip() for s in parts))
        if not parts:
            return Heard(text, no_speech_prob=1.0, avg_logprob=0.0, compression_ratio=0.0)
        return Heard(
            text,
            no_speech_prob=max(s.no_speech_prob for s in parts),
            avg_logprob=sum(s.avg_logprob for s in parts) / len(parts),
            compression_ratio=max(s.compression_ratio for s in parts),
        )

    def transcribe_recording(self, pcm: bytes, beam_size: int = 5) -> str:
        """A whole recording, for accuracy rather than latency.

        A recording that starts or ends right at a word tends to lose that
        word, and greedy decoding now and then stops after the first of several
        sentences. Half a second of silence on each side and a beam of 5 cut
        both (measured on 150 three-sentence piper replies: 8 transcripts
        missed a sentence or the last word with neither, 1 with both).
        """
        pad = bytes(2 * int(RECORDING_EDGE_SECONDS * 16000))
        return self.transcribe(pad + pcm + pad, beam_size=beam_size)

    def _transcribe_short(self, audio: np.ndarray, beam: int) -> Heard | None:
        """One encoder pass over the utterance plus padding; None when it did not end cleanly."""
        from faster_whisper.transcribe import get_ctranslate2_storage

        features = self.model.feature_extractor(audio)
        frames = features.shape[-1]
        if frames + CONTEXT_PADDING_FRAMES >= FULL_FRAMES:
            return None  # a long utterance: the normal path handles it
        n = frames + CONTEXT_PADDING_FRAMES
        padded = np.zeros((features.shape[0], n), dtype=features.dtype)
        padded[:, :frames] = features
        seconds = len(audio) / 16000
        max_new = int(10 + 6 * seconds)  # a generous words-per-second bound
        result = self.model.model.generate(
            get_ctranslate2_storage(np.ascontiguousarray(padded[None])),
            [self._prompt],
            beam_size=beam,
            max_length=len(self._prompt) + max_new,
            suppress_blank=True,
            suppress_tokens=self._suppress,
            return_scores=True,
            return_no_speech_prob=True,
        )[0]
        tokens = [t for t in result.sequences_ids[0] if t < self._tokenizer.eot]
        if len(tokens) >= max_new:
            log.info("short-context decode hit its limit, retrying over 30 s")
            return None
        raw = self._tokenizer.decode(tokens).strip()
        # The score is the length-normalised log-probability (length penalty 1); as
        # faster-whisper does, count the end-of-text token in the average.
        avg_logprob = result.scores[0] * len(tokens) / (len(tokens) + 1) if tokens else 0.0
        return Heard(clean_transcript(raw), float(result.no_speech_prob), float(avg_logprob),
                     compression_ratio(raw))


def clean_transcript(text: str) -> str:
    text = _NOISE.sub(" ", text)
    return re.sub(r"\s+", " ", text).strip()


