"""Thousands of random bad payloads on every surface of the real daemon: each is refused with an error
naming its defect, nothing else happens, and afterwards commands, a voice turn and every surface work.

``scripts/fuzz N`` runs the same with N payloads (10,000 and more) and prints the figures.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from daemons import SurfacesDaemon
from fuzz_run import Fuzz, input_wav
from mosquitto import Listener, Mosquitto

SEED = 1313
COUNT = 3000


def test_fuzzed_payloads_are_refused_and_the_daemon_keeps_serving(broker: Mosquitto, tmp_path: Path,
                                                                  speech_dir: Path) -> None:
    daemon = SurfacesDaemon(tmp_path, input_wav(tmp_path, speech_dir, lead_seconds=25.0, seed=SEED), broker.port)
    sub = Listener(broker.port, [f"{daemon.base}/#"])
    fuzz = None
    try:
        daemon.wait_event(lambda e: e["type"] == "ready")
        sub.wait_for(f"{daemon.base}/availability", lambda p: p == b"online")
        fuzz = Fuzz(daemon, broker.port, SEED)
        report = asyncio.run(fuzz.run(COUNT))
        answered = report.sent["mqtt"] + report.sent["hermes"] + report.sent["ws"]
        assert report.total == COUNT and min(report.sent[s] for s in ("mqtt", "hermes", "ws", "ws-close")) > 0
        assert report.mismatches == [], "\n".join(report.mismatches[:20])
        assert report.effects == []  # no payload changed anything
        assert report.errors_in_file == answered  # one error event per payload: in --events,
        assert report.errors_on_mqtt == answered  # on the MQTT event topic,
        assert report.errors_on_websocket == answered  # and to a WebSocket client

        # Then a valid command works on every surface, the voice turn in the file is answered,
        # and the client that never read was dropped, and counted.
        facts = asyncio.run(fuzz.aftermath(sub))
        assert facts["say_turn_on_mqtt"] == facts["say_turn_in_events"]
        assert facts["new_client_first_message"] == "snapshot" and facts["ask_over_websocket_backend"] == "intent"
        assert facts["ws_dropped_total"] == 1
        assert "france" in facts["voice_transcript"].lower(), facts
        assert facts["voice_reply"].strip() and facts["voice_backend"] == "local", facts
    finally:
        if fuzz is not None:
            fuzz.close()
        sub.close()
        code = daemon.stop()
    assert code == 0, daemon.stderr[-3000:]
    assert "Traceback" not in daemon.stderr, daemon.stderr[-3000:]
