"""Model inference never blocks the event loop: a whole voice turn under asyncio debug mode."""

from __future__ import annotations

from pathlib import Path

from panikid.app.daemon import Daemon, RunOptions
from panikid.config import Config
from panikid.pipeline.testing import run_with_loop_checks


def test_a_full_turn_never_blocks_the_loop(components, wake_and_command: Path, tmp_path: Path) -> None:
    out = tmp_path / "reply.wav"
    daemon = Daemon(Config(), RunOptions(str(wake_and_command), str(out), pace="fast"), components)
    slow = run_with_loop_checks(daemon.run(), slow=0.05, timeout=180)
    # The turn really happened (whisper, llama.cpp and piper all ran)...
    types = [e.type for e in daemon.bus.history]
    assert "transcript" in types and "reply" in types and "audio_started" in types, types
    assert daemon.metrics.completed
    # ...and no callback held the loop for 50 ms or more.
    assert slow == [], slow
