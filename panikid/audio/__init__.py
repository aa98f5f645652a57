"""Audio utilities: formats and conversion, WAV files, fixed-size chunks, cues, the local devices."""

SAMPLE_RATE = 16000
"""Sample rate of all audio inside the front end (wake word, VAD, turn detection, speech-to-text)."""
