"""The user's turn: VAD engines, the pure segmenter, wake-tail trimmer and cue mask, the end-of-turn model,
and the turn detector processor."""
