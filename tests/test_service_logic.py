"""Pure parts of the service package: the watchdog decision, status lines, reload planning."""

from __future__ import annotations

from panikid import config as config_mod
from panikid.app.assembly import LIVE_KEYS
from panikid.config import Config
from panikid.events import Event
from panikid.service.reload import plan
from panikid.service.surface import log_fields, status_for
from panikid.service.watchdog import WatchdogPolicy, decide, ping_interval

POLICY = WatchdogPolicy(audio_timeout=5.0, max_loop_lag=2.0)


def test_alive_while_audio_flows() -> None:
    v = decide(100.0, scheduled=99.9, ready=True, last_audio=99.97, policy=POLICY)
    assert v.alive and v.reason == "audio flowing"


def test_stalled_audio_is_not_alive() -> None:
    v = decide(100.0, scheduled=100.0, ready=True, last_audio=94.0, policy=POLICY)
    assert not v.alive and v.reason == "no audio frame for 6.0 s"
    assert not decide(100.0, scheduled=100.0, ready=True, last_audio=None, policy=POLICY).alive


def test_a_lost_device_is_no_stall_but_a_blocked_loop_still_is() -> None:
    lost = "capture device 'USB' is gone (...); looking for it every 2 s"
    v = decide(100.0, scheduled=100.0, ready=True, last_audio=60.0, policy=POLICY, lost=lost)
    assert v.alive and v.reason == f"waiting for a lost audio device: {lost}"
    assert not decide(100.0, scheduled=96.0, ready=True, last_audio=60.0, policy=POLICY, lost=lost).alive


def test_blocked_event_loop_is_not_alive() -> None:
    v = decide(100.0, scheduled=97.0, ready=True, last_audio=99.99, policy=POLICY)
    assert not v.alive and "event loop blocked for 3.0 s" == v.reason


def test_loading_models_is_alive_without_audio() -> None:
    assert decide(100.0, scheduled=100.0, ready=False, last_audio=None, policy=POLICY).alive


def test_ping_interval_is_under_half() -> None:
    assert ping_interval(30.0) == 10.0 < 30.0 / 2


def test_status_lines() -> None:
    assert status_for(Event("state", 1.0, {"state": "idle"})) == "listening for the wake word"
    assert status_for(Event("state", 1.0, {"state": "muted"})) == "muted"
    assert status_for(Event("error", 1.0, {"where": "stt", "message": "boom"})) == "error: stt: boom"
    assert status_for(Event("wake", 1.0, {})) is None


def test_journal_fields_of_events() -> None:
    assert log_fields(Event("turn", 1.0, {"turn": 3, "backend": "local"})) == {
        "EVENT": "turn", "TURN": 3, "BACKEND": "local"}
    assert log_fields(Event("state", 1.0, {"state": "processing"}))["STATE"] == "processing"


def test_reload_plan_splits_live_and_restart_keys() -> None:
    old = Config()
    new = config_mod.replace(old, wake={"threshold": 0.9}, llm={"system_prompt": "Be brief."},
                             stt={"beam_size": 3})
    effective, applied, restart = plan(old, new, LIVE_KEYS)
    assert applied == {"wake.threshold": 0.9, "llm.system_prompt": "Be brief."}
    assert restart == ["stt.beam_size"]
    assert effective.wake.threshold == 0.9 and effective.llm.system_prompt == "Be brief."
    assert effective.stt.beam_size == 1  # still the running value until a restart


def test_reload_plan_without_changes() -> None:
    effective, applied, restart = plan(Config(), Config(), LIVE_KEYS)
    assert (applied, restart) == ({}, []) and effective == Config()
