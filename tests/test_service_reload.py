"""SIGHUP: the daemon re-reads its configuration file without dropping anything."""

from __future__ import annotations

import signal
from pathlib import Path

from daemons import DaemonProcess

LOAD_TIMEOUT = 240.0


def test_sighup_applies_a_valid_config_and_refuses_an_invalid_one(tmp_path: Path, long_noise: Path) -> None:
    cfg = tmp_path / "panikid.toml"
    cfg.write_text("[wake]\nthreshold = 0.7\n")
    d = DaemonProcess("--config", str(cfg), "--input", str(long_noise))
    try:
        ready = d.wait_event("ready", LOAD_TIMEOUT)

        # Valid: a live key (applied), and a key that needs a restart (named in the log).
        cfg.write_text("[wake]\nthreshold = 0.9\ncooldown_seconds = 4.0\n[vad]\nsilence_seconds = 1.2\n"
                       "[stt]\nbeam_size = 2\n")
        d.signal(signal.SIGHUP)
        e = d.wait_event("config_reloaded", 30, after=ready)
        assert e["applied"] == {"wake.threshold": 0.9, "wake.cooldown_seconds": 4.0, "vad.silence_seconds": 1.2}
        assert e["restart_needed"] == ["stt.beam_size"]
        assert e["wake_threshold"] == 0.9  # read back from the running wake word detector
        restart = "these keys need a restart to take effect: stt.beam_size"
        assert restart in d.wait_stderr(restart)

        # Invalid: refused with the reason; the daemon keeps running with the old values.
        cfg.write_text("[wake]\nthreshold = 5\n")
        d.signal(signal.SIGHUP)
        err = d.wait_event("error", 30, after=e)
        assert err["where"] == "config"
        assert "wake.threshold: got 5, allowed: a number from 0.0 to 1.0" in err["message"]
        refused = "reload refused, the running configuration stays in effect"
        assert refused in d.wait_stderr(refused)
        assert d.proc.poll() is None

        # The refused file changed nothing: the next valid one is compared with 0.9, not 5.
        cfg.write_text("[wake]\nthreshold = 0.8\ncooldown_seconds = 4.0\n[vad]\nsilence_seconds = 1.2\n"
                       "[stt]\nbeam_size = 2\n")
        d.signal(signal.SIGHUP)
        e = d.wait_event("config_reloaded", 30, after=err)
        assert e["applied"] == {"wake.threshold": 0.8}
        assert e["wake_threshold"] == 0.8
        assert e["restart_needed"] == ["stt.beam_size"]  # still not in effect, still reported

        d.signal(signal.SIGTERM)
        assert d.proc.wait(10) == 0
    finally:
        d.stop()
