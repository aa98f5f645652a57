"""Several rooms: daemons on one broker hear the same words at different levels; only the nearest answers.

Each daemon runs as a user runs it (``panikid run``, its own process, wake arbitration on) with its own
virtual microphone on one private PulseAudio server, and all of them on one private Mosquitto. The same
recording is played into every microphone at once, quieter into all but one (12 dB by default: a
speaker in one room heard through an open door in the other). For each wake word, exactly one daemon
starts a turn, the one that heard it loudest; the others publish ``wake_arbitration`` with
``won: false`` on the broker's ``event`` topic and go back to idle.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from daemons import DaemonProcess
from mosquitto import Listener, Mosquitto
from pulse import ExtraSink, PulseServer, pulse_server

from panikid.devtools import fixtures

pytestmark = pytest.mark.audio

WINDOW = "0.5"
"""The arbitration window in these tests: two or three daemons share two cores here (the default is 0.2)."""
QUIETER_DB = 12.0


def _rooms(tmp: Path, names: list[str]) -> tuple[list[ExtraSink], str]:
    sinks = [ExtraSink(f"mic_{n}", 16000, 1) for n in names]
    alsa = "".join(f'pcm.room_{n} {{ type pulse; device "mic_{n}.monitor" }}\n' for n in names)
    return sinks, alsa


def _start(pulse: PulseServer, name: str, broker: Mosquitto) -> DaemonProcess:
    return DaemonProcess(env={
        **pulse.env, "PANIKID_AUDIO_INPUT_DEVICE": f"room_{name}", "PANIKID_GENERAL_DEVICE_ID": name,
        "PANIKID_WEB_ENABLED": "false", "PANIKID_MQTT_ENABLED": "true", "PANIKID_MQTT_HOST": "127.0.0.1",
        "PANIKID_MQTT_PORT": str(broker.port), "PANIKID_MQTT_DISCOVERY_PREFIX": "",
        "PANIKID_MQTT_ARBITRATION": "true", "PANIKID_MQTT_ARBITRATION_WINDOW_SECONDS": WINDOW,
    })


def _scaled(src: Path, out: Path, db: float) -> Path:
    pcm = fixtures.read_pcm(src).astype(np.float64) * 10 ** (-db / 20)
    return fixtures.write_pcm(out, np.clip(np.rint(pcm), -32768, 32767))


def _one_wake(pulse: PulseServer, daemons: dict[str, DaemonProcess], loud: str, full: Path, quiet: Path,
              sub: Listener, marks: dict[str, int]) -> dict[str, tuple[dict, dict]]:
    """Play the recording into every room at once, loudest in ``loud``'s: each daemon's (wake, decision)."""
    players = [pulse.play_async(full if name == loud else quiet, device=f"mic_{name}") for name in daemons]
    for p in players:
        assert p.wait(60) == 0
    seen = {}
    for name, d in daemons.items():
        wake = d.wait_event("wake", timeout=30, after=marks[name])
        seen[name] = wake, d.wait_event("wake_arbitration", timeout=10, after=wake)
    winner = daemons[loud]
    heard = winner.wait_event("transcript", timeout=60, after=seen[loud][1])
    winner.wait_event("audio_stopped", timeout=120, after=heard)
    time.sleep(1.0)  # anything a loser might still do has come by now
    for name, d in daemons.items():
        wake, decided = seen[name]
        after = d.events[d.events.index(wake) + 1:]
        types = [e["type"] for e in after]
        if name == loud:
            assert decided["won"] is True and decided["winner"] == name, decided
            assert "transcript" in types and "audio_started" in types, types
            assert "what can you do" in heard["text"].lower(), heard["text"]
        else:
            assert decided["won"] is False and decided["winner"] == loud, (name, decided)
            for nothing in ("cue", "speech_started", "transcript", "reply", "audio_started"):
                assert nothing not in types, (name, types)
            assert [e["state"] for e in d.events if e["type"] == "state"][-1] == "idle", (name, types)
            # ... and said so on the broker, on its event topic
            payload, _ = sub.wait_for(f"panikid/{name}/event",
                                      lambda p: json.loads(p)["event_type"] == "wake_arbitration", timeout=10)
            assert json.loads(payload)["won"] is False and json.loads(payload)["winner"] == loud
        assert set(decided["levels"]) == set(daemons), (name, decided)  # every room's claim was counted
        marks[name] = len(d.events)
    return seen


def _report(seen: dict[str, tuple[dict, dict]], loud: str) -> None:
    levels = {n: w["level_dbfs"] for n, (w, _) in seen.items()}
    louder_by = {n: round(levels[loud] - v, 2) for n, v in levels.items() if n != loud}
    apart = {n: d.get("apart_ms") for n, (_, d) in seen.items()}
    delays = {n: round((d["t"] - w["t"]) * 1000) for n, (w, d) in seen.items()}
    print(f"\n{loud} nearest: levels {levels} dBFS, louder than the others by {louder_by} dB "
          f"(fed {QUIETER_DB:g} dB apart); claims made {apart} ms apart; wake -> decision {delays} ms")


@pytest.mark.parametrize("names", [["kitchen", "hall"], ["kitchen", "hall", "attic"]], ids=["two", "three"])
def test_the_louder_room_answers_each_wake(tmp_path: Path, broker: Mosquitto, wake_and_fixed_reply: Path,
                                           names: list[str]) -> None:
    full = fixtures.compose(tmp_path / "full.wav", [0.5, fixtures.read_pcm(wake_and_fixed_reply)])
    quiet = _scaled(full, tmp_path / "quiet.wav", QUIETER_DB)
    sinks, alsa = _rooms(tmp_path, names)
    with pulse_server(tmp_path / "pulse", extra_sinks=sinks, extra_alsa=alsa) as pulse:
        sub = Listener(broker.port, [f"panikid/{n}/event" for n in names])
        daemons = {n: _start(pulse, n, broker) for n in names}
        try:
            for d in daemons.values():
                d.wait_event("ready", timeout=240)
            for d in daemons.values():  # arbitrating on the broker
                assert "wake arbitration: group 'home'" in d.wait_stderr("wake arbitration: group", timeout=30)
            time.sleep(1.0)
            marks = {n: len(d.events) for n, d in daemons.items()}
            for loud in (names[0], names[1]):  # each wake, a different room nearest
                _report(_one_wake(pulse, daemons, loud, full, quiet, sub, marks), loud)
                with sub.cond:
                    sub.messages.clear()
        finally:
            sub.close()
            codes = {n: d.stop(timeout=30) for n, d in daemons.items()}
    assert codes == {n: 0 for n in names}, {n: d.stderr[-2000:] for n, d in daemons.items()}
