"""The daemon with remote speech: a turn answered through real Wyoming servers, then the servers killed
mid-run and the next turn answered by the local engines, the ``turn`` event saying which answered."""

from __future__ import annotations

from pathlib import Path

import pytest
from daemons import DaemonProcess
from wyoming_servers import piper_server, whisper_server

from panikid.devtools import fixtures


@pytest.mark.slow
def test_a_turn_through_wyoming_servers_then_locally_once_they_are_killed(speech_dir: Path, tmp_path: Path) -> None:
    command = fixtures.read_pcm(fixtures.utterance(speech_dir, "What time is it?", pause=0.4))
    # Two requests, far enough apart that the first reply has played before the second is spoken.
    wav = fixtures.compose(tmp_path / "in.wav", [command, 12.0, command, 3.0])
    stt, tts = whisper_server(tmp_path).start(), piper_server(tmp_path).start()
    cfg = tmp_path / "panikid.toml"
    cfg.write_text(f'[stt]\nengine = "wyoming"\nuri = "{stt.uri}"\nremote_timeout_seconds = 10.0\n\n'
                   f'[tts]\nengine = "wyoming"\nuri = "{tts.uri}"\nremote_timeout_seconds = 10.0\n')
    daemon = DaemonProcess("--config", str(cfg), "--input", str(wav), "--output", str(tmp_path / "out.wav"))
    try:
        first = daemon.wait_event("turn", timeout=180)
        assert (first["stt_engine"], first["tts_engine"]) == ("wyoming", "wyoming"), first
        stt.kill()
        tts.kill()
        second = daemon.wait_event("turn", timeout=60, after=first)
        assert (second["stt_engine"], second["tts_engine"]) == ("whisper", "piper"), second
        assert daemon.wait(60) == 0
    finally:
        daemon.stop()
        stt.stop()
        tts.stop()
    events = daemon.events
    transcripts = [e for e in events if e["type"] == "transcript"]
    assert [e["engine"] for e in transcripts] == ["wyoming", "whisper"], transcripts
    assert all("what time is it" in e["text"].lower() for e in transcripts), transcripts
    assert [e["engine"] for e in events if e["type"] == "tts_started"] == ["wyoming", "piper"]
    assert [e["backend"] for e in events if e["type"] == "reply"] == ["intent", "intent"]
    log = daemon.stderr
    assert f"stt.uri {stt.uri} failed" in log and f"tts.uri {tts.uri} failed" in log, log[-3000:]
    for turn in (first, second):
        print(f"turn {turn['turn']}: stt {turn['stt_engine']} ({turn['stt_ms']} ms), tts {turn['tts_engine']} "
              f"({turn['tts_ttfb_ms']} ms), speech end to first audio {turn['speech_end_to_first_audio_ms']} ms")
