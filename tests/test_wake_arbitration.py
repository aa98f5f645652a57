"""Wake arbitration: the pure decision, the capture level, and the real daemon arbitrating on a real broker.

The daemon runs in-process (the real ``Daemon``, its MQTT surface on a private Mosquitto, a WAV as its
microphone); the other device is this test's own MQTT client, which answers the daemon's claim with a
claim of its own: louder, quieter, too late or too old.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from daemons import DaemonThread
from hypothesis import given
from hypothesis import strategies as st
from mosquitto import Mosquitto
from paho.mqtt.enums import CallbackAPIVersion

from panikid import config
from panikid.app.daemon import Daemon, RunOptions
from panikid.audio.convert import float_to_pcm16, sine
from panikid.audio.level import FLOOR_DBFS, LevelHistory, block_dbfs
from panikid.control.mqtt.surface import MqttSurface
from panikid.devtools import fixtures
from panikid.speech.wake.arbitration import Claim, ClaimError, decide

DEV = "kitchen"
TOPIC = "panikid/arbitration/home"


# ---------------------------------------------------------------- the decision (pure)

def c(device: str, level: float, score: float = 0.9, at: float = 100.0) -> Claim:
    return Claim.make(device, level, score, at)


@pytest.mark.parametrize(("mine", "others", "winner"), [
    (c("kitchen", -30), [], "kitchen"),  # alone
    (c("kitchen", -30), [c("hall", -42)], "kitchen"),  # louder
    (c("kitchen", -42), [c("hall", -30)], "hall"),  # quieter
    (c("kitchen", -30, 0.80), [c("hall", -30, 0.95)], "hall"),  # same level: the better score
    (c("kitchen", -30, 0.95), [c("hall", -30, 0.80)], "kitchen"),
    (c("kitchen", -30, 0.9), [c("hall", -30, 0.9)], "hall"),  # a full tie: the lowest id
    (c("attic", -30, 0.9), [c("hall", -30, 0.9)], "attic"),
    (c("kitchen", -40), [c("hall", -35), c("den", -20), c("attic", -50)], "den"),
    (c("kitchen", -30), [c("hall", -10, at=99.7)], "kitchen"),  # older than the window: an earlier wake
    (c("kitchen", -30), [c("hall", -10, at=100.3)], "kitchen"),  # newer than it: a later one
    (c("kitchen", -30), [c("hall", -10, at=99.85)], "hall"),  # just before mine: counted
    (c("kitchen", -30), [c("kitchen", -10, at=100.1)], "kitchen"),  # my own claim, echoed: not another's
])
def test_the_loudest_then_the_best_score_then_the_lowest_id_wins(mine: Claim, others: list[Claim],
                                                                  winner: str) -> None:
    d = decide(mine, others, window_seconds=0.2)
    assert d.winner == winner and d.won == (winner == mine.device_id)
    assert d.levels[mine.device_id] == mine.level_dbfs


def test_of_two_claims_of_one_device_the_one_nearest_mine_counts() -> None:
    d = decide(c("kitchen", -30), [c("hall", -20, at=99.95), c("hall", -50, at=100.15)], 0.2)
    assert d.winner == "hall" and d.levels == {"kitchen": -30.0, "hall": -20.0}


claims = st.builds(Claim.make, st.sampled_from(["a", "b", "c", "d", "e"]),
                   st.floats(-100, 0), st.floats(0, 1), st.floats(100, 100.1))


@given(st.lists(claims, min_size=1, max_size=5, unique_by=lambda x: x.device_id))
def test_devices_that_see_the_same_claims_agree_on_one_winner(group: list[Claim]) -> None:
    decisions = [decide(mine, group, window_seconds=0.2) for mine in group]
    assert len({d.winner for d in decisions}) == 1
    assert sum(d.won for d in decisions) == 1
    best = max(group, key=lambda x: (x.level_dbfs, x.score, [-ord(ch) for ch in x.device_id]))
    assert decisions[0].winner == best.device_id


def test_a_claim_round_trips_and_bad_ones_are_refused_by_name() -> None:
    claim = Claim.make("kitchen", -31.234567, 0.98765, 1700000000.123456)
    assert claim == Claim(device_id="kitchen", level_dbfs=-31.23, score=0.988, at=1700000000.123)
    assert Claim.from_json(claim.to_json()) == claim
    for payload, named in [(b"not json", "JSON"), (b"[1]", "JSON object"),
                           (b'{"device_id": "a b", "level_dbfs": 1, "score": 1, "at": 1}', "device_id"),
                           (b'{"device_id": "a", "level_dbfs": "loud", "score": 1, "at": 1}', "level_dbfs"),
                           (b'{"device_id": "a", "level_dbfs": 1, "score": true, "at": 1}', "score"),
                           (b'{"device_id": "a", "level_dbfs": 1, "score": 1}', "at"),
                           (b'{"device_id": "a", "level_dbfs": NaN, "score": 1, "at": 1}', "level_dbfs")]:
        with pytest.raises(ClaimError, match=named):
            Claim.from_json(payload)


# ---------------------------------------------------------------- the level (pure)

def test_the_level_of_a_block_and_of_a_stretch() -> None:
    tone = float_to_pcm16(sine(440, 0.03, 16000, amplitude=0.5))
    quieter = float_to_pcm16(sine(440, 0.03, 16000, amplitude=0.5 * 10 ** (-12 / 20)))
    assert block_dbfs(tone) == pytest.approx(-9.03, abs=0.05)  # 0.5 / sqrt(2)
    assert block_dbfs(tone) - block_dbfs(quieter) == pytest.approx(12.0, abs=0.05)
    assert block_dbfs(bytes(960)) == FLOOR_DBFS == block_dbfs(b"")
    history = LevelHistory(seconds=1.5)
    for i in range(100):  # 3 s: a second of silence, then the tone
        history.add(i * 0.03, 0.03, -20.0 if i >= 34 else FLOOR_DBFS)
    assert history.level(3.0, 1.0) == pytest.approx(-20.0)  # the last second: the tone only
    assert history.level(0.9, 0.5) is None  # forgotten (the history keeps 1.5 s)
    half = LevelHistory(seconds=1.5)
    for i in range(100):
        half.add(i * 0.03, 0.03, -20.0 if i >= 83 else FLOOR_DBFS)
    mixed = half.level(3.0, 1.0)  # half silence, half tone: the mean power, 3 dB under the tone
    assert mixed is not None and mixed == pytest.approx(-23.0, abs=0.1)


# ---------------------------------------------------------------- the daemon on a real broker

class OtherDevice:
    """Another device of the group, as a plain MQTT client: answers each claim of the daemon with its own."""

    def __init__(self, port: int, device_id: str = "hall", level_dbfs: float = -60.0, delay: float = 0.0,
                 at_offset: float = 0.0) -> None:
        self.device_id, self.level, self.delay, self.at_offset = device_id, level_dbfs, delay, at_offset
        self.seen: list[tuple[float, dict[str, Any]]] = []  # (when received, the claim)
        self.sent: list[dict[str, Any]] = []
        self.retained: list[bool] = []
        self.cond = threading.Condition()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        self.client.on_message = self._on_message
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.on_connect = lambda cl, *_: cl.subscribe(TOPIC, 1)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert subscribed.wait(10), "the other device did not subscribe"

    def _on_message(self, client: Any, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        claim = json.loads(msg.payload)
        if claim["device_id"] == self.device_id:
            return
        with self.cond:
            self.seen.append((time.time(), claim))
            self.retained.append(bool(msg.retain))
            self.cond.notify_all()
        threading.Thread(target=self._answer, args=(claim,), daemon=True).start()

    def _answer(self, claim: dict[str, Any]) -> None:
        time.sleep(self.delay)
        mine = {"device_id": self.device_id, "level_dbfs": self.level, "score": 0.9,
                "at": claim["at"] + self.delay + self.at_offset}
        self.client.publish(TOPIC, json.dumps(mine), qos=1)
        with self.cond:
            self.sent.append(mine)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _cfg(port: int, window: float) -> config.Config:
    return config.replace(config.Config(), general={"device_id": DEV}, web={"enabled": False},
                          mqtt={"enabled": True, "host": "127.0.0.1", "port": port, "arbitration": True,
                                "arbitration_window_seconds": window, "discovery_prefix": ""})


def _start(cfg: config.Config, components: object, wav: Path) -> DaemonThread:
    surface = MqttSurface(cfg, environ={})
    return DaemonThread(Daemon(cfg, RunOptions(str(wav), None, pace="realtime"), components, [surface]))


@pytest.fixture(scope="module")
def wake_in_one_breath(speech_dir: Path) -> Path:
    """"Okay nah-boo what time is it" in one breath, after 3 s (the MQTT connection is up by then)."""
    return fixtures.utterance(speech_dir, "what time is it", pause=0.0, lead=3.0, tail=2.0,
                              name="arbitration_one_breath.wav")


def test_the_louder_device_answers_and_keeps_the_whole_command(broker: Mosquitto, components: object,
                                                               wake_in_one_breath: Path) -> None:
    """The wake word waits the whole window (here the longest allowed, 1 s) while the command goes on;
    the turn still takes the command from its start: the window must not cut it."""
    other = OtherDevice(broker.port, level_dbfs=-70.0)
    run = _start(_cfg(broker.port, window=1.0), components, wake_in_one_breath)
    try:
        wake = run.wait_event("wake", timeout=60)
        decided = run.wait_event("wake_arbitration", timeout=10, after=wake)
        heard = run.wait_event("transcript", timeout=60, after=decided)
        run.wait_event(lambda e: e["type"] == "state" and e["state"] == "idle", timeout=60, after=heard)
    finally:
        other.close()
        run.stop()
    assert wake["level_dbfs"] is not None and -60 < wake["level_dbfs"] < 0
    (received, claim), = other.seen
    assert other.retained == [False]
    assert claim["device_id"] == DEV and claim["level_dbfs"] == round(wake["level_dbfs"], 2)
    assert claim["score"] == wake["score"] and abs(received - claim["at"]) < 5
    assert decided["won"] is True and decided["winner"] == DEV and "alone" not in decided
    assert decided["levels"] == {DEV: claim["level_dbfs"], "hall": -70.0}
    assert "what time is it" in heard["text"].lower().replace(",", "").replace("?", ""), heard["text"]
    types = run.types()
    assert types.index("wake_arbitration") < types.index("cue")  # the chime only once it answers
    print(f"\nwake -> decision: {(decided['t'] - wake['t']) * 1000:.0f} ms (window 1000 ms); "
          f"the other's claim came {decided['apart_ms']:.0f} ms after this one")


def test_the_quieter_device_goes_back_to_idle_silently(broker: Mosquitto, components: object,
                                                       wake_in_one_breath: Path) -> None:
    other = OtherDevice(broker.port, level_dbfs=-3.0)
    run = _start(_cfg(broker.port, window=0.5), components, wake_in_one_breath)
    try:
        wake = run.wait_event("wake", timeout=60)
        decided = run.wait_event("wake_arbitration", timeout=10, after=wake)
        # (the state it causes is recorded before it: the daemon hears each event before this test does)
        back = run.wait_event(lambda e: e["type"] == "state" and e["state"] != "listening", timeout=10,
                              after=wake)
        time.sleep(3.0)  # the command is over: nothing more may come of it
        after = run.types()[run.types().index("wake_arbitration"):]
    finally:
        other.close()
        run.stop()
    assert decided["won"] is False and decided["winner"] == "hall"
    assert decided["levels"] == {DEV: round(wake["level_dbfs"], 2), "hall": -3.0}
    assert back["state"] == "idle" and back["t"] >= decided["t"] - 0.001
    for nothing in ("cue", "speech_started", "transcript", "reply", "audio_started", "turn_abandoned"):
        assert nothing not in after, after


def test_a_claim_too_late_or_too_old_is_not_counted(broker: Mosquitto, components: object,
                                                     wake_in_one_breath: Path) -> None:
    """A louder device whose claim comes after the decision, and one whose claim was made long before
    (another wake word): neither counts; this device answers."""
    late = OtherDevice(broker.port, "hall", level_dbfs=-1.0, delay=0.8, at_offset=-0.7)  # made in the window
    old = OtherDevice(broker.port, "attic", level_dbfs=-1.0, at_offset=-5.0)
    run = _start(_cfg(broker.port, window=0.3), components, wake_in_one_breath)
    try:
        wake = run.wait_event("wake", timeout=60)
        decided = run.wait_event("wake_arbitration", timeout=10, after=wake)
        run.wait_event("transcript", timeout=60, after=decided)
        with late.cond:  # the late claim did reach the broker (after the decision)
            late.cond.wait_for(lambda: late.sent, 10)
    finally:
        late.close()
        old.close()
        run.stop()
    assert decided["won"] is True and decided["levels"] == {DEV: round(wake["level_dbfs"], 2)}
    assert late.sent and old.sent


def test_with_the_broker_down_the_device_answers_alone_at_once(broker: Mosquitto, components: object,
                                                               speech_dir: Path) -> None:
    wav = fixtures.utterance(speech_dir, "what time is it", pause=0.0, lead=6.0, tail=2.0,
                             name="arbitration_later.wav")
    run = _start(_cfg(broker.port, window=1.0), components, wav)
    try:
        run.wait_event("ready", timeout=60)
        broker.stop()
        lost = run.wait_event(lambda e: e["type"] == "error" and e["where"] == "mqtt", timeout=5)
        wake = run.wait_event("wake", timeout=60, after=lost)
        decided = run.wait_event("wake_arbitration", timeout=10, after=wake)
        heard = run.wait_event("transcript", timeout=60, after=decided)
    finally:
        run.stop()
    assert decided["won"] is True and decided["alone"] is True and decided["winner"] == DEV
    assert decided["levels"] == {DEV: round(wake["level_dbfs"], 2)}
    waited = decided["t"] - wake["t"]
    assert waited < 0.5, f"waited {waited:.3f} s for a broker that is down (the window is 1 s)"
    assert "time" in heard["text"].lower()
    print(f"\nbroker down: wake -> decision {waited * 1000:.1f} ms")
