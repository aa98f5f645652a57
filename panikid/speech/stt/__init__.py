"""Speech to text: the Whisper engine, the pure judge of what was heard, and the processor."""
