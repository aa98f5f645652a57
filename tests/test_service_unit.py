"""systemd/panikid.service: it verifies cleanly and its hardening scores well."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
UNIT = REPO / "systemd" / "panikid.service"
EXPOSURE_LIMIT = 2.5

pytestmark = pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")


def _root(tmp_path: Path, unit_text: str) -> Path:
    """A root holding the unit, a stand-in ExecStart and a copy of the system units."""
    root = tmp_path / "root"
    (root / "etc/systemd/system").mkdir(parents=True)
    (root / "etc/systemd/system/panikid.service").write_text(unit_text)
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    exe = root / "opt/panikid/venv/bin/panikid"
    exe.parent.mkdir(parents=True)
    exe.write_text("#!/bin/sh\nexit 0\n")
    exe.chmod(0o755)
    (root / "bin").mkdir()
    shutil.copy(shutil.which("kill") or "/bin/kill", root / "bin/kill")
    return root


def _verify(root: Path) -> subprocess.CompletedProcess[str]:
    # The path form: with a bare unit name, verify on a machine without systemd as PID 1
    # does not load the file from --root and stays silent even about typos.
    return subprocess.run(["systemd-analyze", "verify", f"--root={root}", "/etc/systemd/system/panikid.service"],
                          capture_output=True, text=True, timeout=60)


def test_unit_verifies_with_no_warnings(tmp_path: Path) -> None:
    r = _verify(_root(tmp_path, UNIT.read_text()))
    assert r.returncode == 0 and r.stderr == "", r.stderr


@pytest.mark.parametrize("change, complaint", [
    (("NoNewPrivileges=yes", "NoNewPrivilegez=yes"), "Unknown key 'NoNewPrivilegez'"),
    (("/opt/panikid/venv/bin/panikid run", "/opt/panikid/venv/bin/panikidd run"), "is not executable"),
])
def test_verify_catches_mistakes(tmp_path: Path, change: tuple[str, str], complaint: str) -> None:
    """The check above can fail: a typo and a wrong ExecStart are reported."""
    r = _verify(_root(tmp_path, UNIT.read_text().replace(*change)))
    assert complaint in r.stderr


def test_unit_contract() -> None:
    text = UNIT.read_text()
    keys = dict(re.findall(r"^(\w+)=(.*)$", text, re.M))
    assert keys["Type"] == "notify" and keys["NotifyAccess"] == "main"
    assert keys["ExecStart"].startswith("/opt/panikid/venv/bin/panikid run")
    assert keys["Restart"] == "on-failure" and keys["TimeoutStopSec"] == "5"
    assert keys["DynamicUser"] == "yes" and keys["SupplementaryGroups"] == "audio"
    assert keys["StateDirectory"] == "panikid" and keys["ProtectSystem"] == "strict"
    assert "char-alsa" in keys["DeviceAllow"]
    assert int(keys["WatchdogSec"]) > 0 and int(keys["TimeoutStartSec"]) >= 120


def exposure(unit: Path) -> float:
    r = subprocess.run(["systemd-analyze", "security", "--offline=true", str(unit)],
                       capture_output=True, text=True, timeout=60)
    m = re.search(r"Overall exposure level for panikid\.service: ([0-9.]+)", r.stdout)
    assert m, r.stdout + r.stderr
    return float(m.group(1))


def test_security_exposure(tmp_path: Path) -> None:
    score = exposure(UNIT)
    assert score <= EXPOSURE_LIMIT, f"exposure {score} (documented in the README, 'Hardening')"
    # The score reacts to the hardening (the check can fail).
    weak = tmp_path / "panikid.service"
    weak.write_text("\n".join(line for line in UNIT.read_text().splitlines()
                              if not line.startswith(("ProtectSystem", "SystemCallFilter", "CapabilityBoundingSet",
                                                      "DynamicUser", "RestrictAddressFamilies"))))
    assert exposure(weak) > score + 2
