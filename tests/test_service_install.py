"""scripts/install into a temporary root: layout, upgrade in place, uninstall keeping the config.

``--no-deps`` installs panikid itself (a real, non-editable pip install from the
source tree) without its heavy dependencies; ``--root`` keeps it out of the real /opt and /etc.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
INSTALL = REPO / "scripts" / "install"

pytestmark = pytest.mark.skipif(shutil.which("systemctl") is None, reason="needs systemctl (--root enable)")


def _install(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PANIKID_")}
    return subprocess.run(["bash", str(INSTALL), "--root", str(root), *args], capture_output=True, text=True,
                          timeout=600, env=env)


def _site_packages(root: Path) -> Path:
    return next((root / "opt/panikid/venv/lib").glob("python3*/site-packages"))


def test_install_upgrade_uninstall(tmp_path: Path) -> None:
    root = tmp_path / "root"
    r = _install(root, "--no-deps")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "wrote the configuration /etc/panikid/panikid.toml" in r.stdout

    # The program: a real (non-editable) install, with the model manifest inside the package.
    version = subprocess.run([str(root / "opt/panikid/venv/bin/panikid"), "--version"],
                             capture_output=True, text=True, timeout=60)
    assert version.stdout.strip() == "panikid 0.1.0"
    pkg = _site_packages(root) / "panikid"
    manifest = pkg / "manifest.toml"
    assert manifest.is_file() and not manifest.is_symlink()
    assert manifest.read_text() == (REPO / "models/manifest.toml").read_text()
    assert not list(_site_packages(root).glob("__editable__*"))
    # The configuration, the credentials directory, the unit, enabled.
    assert (root / "etc/panikid/panikid.toml").read_text() == (REPO / "config/panikid.toml").read_text()
    assert oct((root / "etc/panikid/credentials").stat().st_mode & 0o777) == "0o700"
    assert (root / "etc/systemd/system/panikid.service").read_text() == (REPO / "systemd/panikid.service").read_text()
    wants = root / "etc/systemd/system/multi-user.target.wants/panikid.service"
    assert os.readlink(wants) == "/etc/systemd/system/panikid.service"
    # What the unit's Documentation= points at is installed.
    (doc,) = re.findall(r"^Documentation=file://(\S+)$", (REPO / "systemd/panikid.service").read_text(), re.M)
    assert (root / doc.lstrip("/")).read_text() == (REPO / "README.md").read_text()

    # Second run: upgrades in place and keeps the edited configuration.
    (root / "etc/panikid/panikid.toml").write_text("[wake]\nthreshold = 0.7\n")
    (pkg / "cli.py").unlink()  # an out-of-date install: the upgrade puts it back
    r = _install(root, "--no-deps")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "kept the existing configuration /etc/panikid/panikid.toml" in r.stdout
    assert (root / "etc/panikid/panikid.toml").read_text() == "[wake]\nthreshold = 0.7\n"
    assert (root / "etc/panikid/panikid.toml.default").read_text() == (REPO / "config/panikid.toml").read_text()
    assert (pkg / "cli.py").read_text() == (REPO / "panikid/cli.py").read_text()

    # Uninstall: everything but the configuration, and it says so.
    (root / "etc/panikid/credentials/openai_api_key").write_text("sk-test\n")
    r = _install(root, "--uninstall")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "kept the configuration in /etc/panikid" in r.stdout
    assert not (root / "opt/panikid").exists()
    assert not (root / "etc/systemd/system/panikid.service").exists()
    assert not wants.exists() and not wants.is_symlink()
    assert (root / "etc/panikid/panikid.toml").read_text() == "[wake]\nthreshold = 0.7\n"
    assert (root / "etc/panikid/credentials/openai_api_key").exists()


def test_bad_option_is_refused(tmp_path: Path) -> None:
    r = _install(tmp_path, "--frobnicate")
    assert r.returncode == 2 and "usage: scripts/install" in r.stderr


def test_apt_list_matches_setup() -> None:
    def apt_runtime(path: Path) -> list[str]:
        m = re.search(r"^APT_RUNTIME=\(([^)]*)\)", path.read_text(), re.M)
        assert m, path
        return m.group(1).split()

    assert apt_runtime(INSTALL) == apt_runtime(REPO / "scripts/setup")
