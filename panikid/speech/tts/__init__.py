"""Text to speech: the piper engine, the pure sentence splitter, and the processors."""
