"""`panikid check` findings for a service install, against a temporary root."""

from __future__ import annotations

import grp
import os
import stat
from pathlib import Path

import pytest
from daemons import run_cli

from panikid.doctor.service import service_findings

REPO = Path(__file__).resolve().parent.parent


def _installed(root: Path, unit: str | None = None) -> Path:
    (root / "etc/systemd/system/multi-user.target.wants").mkdir(parents=True)
    (root / "etc/systemd/system/panikid.service").write_text(unit or (REPO / "systemd/panikid.service").read_text())
    (root / "etc/systemd/system/multi-user.target.wants/panikid.service").symlink_to(
        "/etc/systemd/system/panikid.service")
    exe = root / "opt/panikid/venv/bin/panikid"
    exe.parent.mkdir(parents=True)
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    (root / "etc/panikid/credentials").mkdir(parents=True, mode=0o700)
    (root / "etc/panikid/panikid.toml").write_text("")
    snd = root / "dev/snd"
    snd.mkdir(parents=True)
    node = snd / "pcmC0D0c"
    os.mknod(node, 0o660 | stat.S_IFCHR, os.makedev(116, 24))
    os.chown(node, 0, grp.getgrnam("audio").gr_gid)
    return root


def _by_what(findings) -> dict:
    return {f.what: f for f in findings}


@pytest.mark.skipif(os.geteuid() != 0, reason="makes a device node (root)")
def test_healthy_install(tmp_path: Path) -> None:
    f = _by_what(service_findings(_installed(tmp_path)))
    assert all(x.ok for x in f.values()), [x for x in f.values() if not x.ok]
    assert f["service user"].detail == "in the audio group (SupplementaryGroups=audio)"
    assert f["service enabled"].detail == "started at boot by multi-user.target"
    assert f["service configuration"].detail == "/etc/panikid/panikid.toml"


@pytest.mark.skipif(os.geteuid() != 0, reason="makes a device node (root)")
def test_problems_say_what_to_do(tmp_path: Path) -> None:
    unit = (REPO / "systemd/panikid.service").read_text().replace("SupplementaryGroups=audio\n", "")
    root = _installed(tmp_path, unit)
    (root / "etc/systemd/system/multi-user.target.wants/panikid.service").unlink()
    (root / "etc/panikid/panikid.toml").unlink()
    key = root / "etc/panikid/credentials/openai_api_key"
    key.write_text("sk-x")
    key.chmod(0o644)
    os.chown(root / "dev/snd/pcmC0D0c", 0, 0)
    f = _by_what(service_findings(root))
    assert not f["service user"].ok and "SupplementaryGroups=audio" in f["service user"].fix
    assert not f["service enabled"].ok and f["service enabled"].fix == "sudo systemctl enable --now panikid"
    assert not f["service configuration"].ok and "does not exist" in f["service configuration"].detail
    assert not f["credentials"].ok and f["credentials"].fix == "sudo chmod 600 /etc/panikid/credentials/*"
    assert not f["sound devices"].ok and "pcmC0D0c" in f["sound devices"].detail


def test_a_drop_in_can_fix_the_group(tmp_path: Path) -> None:
    unit = (REPO / "systemd/panikid.service").read_text().replace("SupplementaryGroups=audio\n", "")
    root = tmp_path
    (root / "etc/systemd/system/panikid.service.d").mkdir(parents=True)
    (root / "etc/systemd/system/panikid.service").write_text(unit)
    assert not _by_what(service_findings(root))["service user"].ok
    (root / "etc/systemd/system/panikid.service.d/audio.conf").write_text("[Service]\nSupplementaryGroups=audio\n")
    assert _by_what(service_findings(root))["service user"].ok


def test_check_reports_the_service_section() -> None:
    r = run_cli("check")
    assert "service: ok: service — not installed as a service (sudo scripts/install does that)" in r.stdout
