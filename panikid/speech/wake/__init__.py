"""Wake word: the engines (microWakeWord, openWakeWord), the pure detector and the processor."""
