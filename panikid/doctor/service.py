"""``panikid check`` findings for a service install (scripts/install): unit, user, devices, secrets.

Everything is read from files under ``root`` (``/`` on a real system), so the
checks can be tested against a temporary install.
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import shlex
import stat
from pathlib import Path

from .checks import Finding

UNIT = "etc/systemd/system/panikid.service"


def unit_settings(root: Path) -> dict[str, list[str]]:
    """[Service]/[Unit] assignments of the installed unit and its drop-ins, in order (empty value resets)."""
    files = [root / UNIT, *sorted((root / (UNIT + ".d")).glob("*.conf"))]
    settings: dict[str, list[str]] = {}
    for f in files:
        try:
            text = f.read_text(encoding="utf-8")
        except OSError:
            continue
        for key, value in re.findall(r"^\s*(\w+)\s*=\s*(.*?)\s*$", text, re.M):
            if value == "":
                settings[key] = []
            else:
                settings.setdefault(key, []).append(value)
    return settings


def _truthy(values: list[str]) -> bool:
    return bool(values) and values[-1].lower() in ("yes", "true", "1", "on")


def _audio_access(settings: dict[str, list[str]]) -> Finding:
    groups = " ".join(settings.get("SupplementaryGroups", [])).split()
    user = (settings.get("User") or [""])[-1]
    fix = "sudo systemctl edit panikid, add under [Service]: SupplementaryGroups=audio; then restart it"
    if "audio" in groups:
        return Finding(True, "service user", "in the audio group (SupplementaryGroups=audio)")
    if user and not _truthy(settings.get("DynamicUser", [])):
        try:
            members = grp.getgrnam("audio").gr_mem
            primary = pwd.getpwnam(user).pw_gid == grp.getgrnam("audio").gr_gid
        except KeyError as exc:
            return Finding(False, "service user", f"{exc.args[0]}", fix)
        if user in members or primary:
            return Finding(True, "service user", f"{user} is in the audio group")
        return Finding(False, "service user", f"{user} is not in the audio group: /dev/snd will not open",
                       f"sudo usermod -aG audio {user}, or {fix}")
    return Finding(False, "service user", "the service's user is not in the audio group: /dev/snd will not open",
                   fix)


def _exec_start(root: Path, settings: dict[str, list[str]]) -> list[Finding]:
    values = settings.get("ExecStart", [])
    if not values:
        return [Finding(False, "service ExecStart", "the unit has no ExecStart=", "reinstall: sudo scripts/install")]
    argv = shlex.split(values[-1].lstrip("-@:+!"))
    exe = root / argv[0].lstrip("/")
    out = []
    if os.access(exe, os.X_OK):
        out.append(Finding(True, "service program", argv[0]))
    else:
        out.append(Finding(False, "service program", f"{argv[0]} is missing or not executable",
                           "reinstall: sudo scripts/install"))
    if "--config" in argv[:-1]:
        cfg = argv[argv.index("--config") + 1]
        if (root / cfg.lstrip("/")).is_file():
            out.append(Finding(True, "service configuration", cfg))
        else:
            out.append(Finding(False, "service configuration", f"{cfg} does not exist (the service cannot start)",
                               f"sudo cp /opt/panikid/config/panikid.toml {cfg}, or rerun sudo scripts/install"))
    return out


def _enabled(root: Path) -> Finding:
    # The links point at /etc/... (absolute): under another root they dangle, which is fine.
    wants = [d / "panikid.service" for d in (root / "etc/systemd/system").glob("*.wants")
             if os.path.lexists(d / "panikid.service")]
    if wants:
        return Finding(True, "service enabled", f"started at boot by {wants[0].parent.name[:-6]}")
    return Finding(False, "service enabled", "not started at boot", "sudo systemctl enable --now panikid")


def _sound_devices(root: Path) -> Finding:
    snd = root / "dev/snd"
    if not snd.is_dir():
        return Finding(False, "sound devices", "/dev/snd does not exist: the kernel found no sound card",
                       "plug in a USB microphone/speaker or enable the audio overlay, then reboot")
    try:
        audio_gid = grp.getgrnam("audio").gr_gid
    except KeyError:
        return Finding(False, "sound devices", "there is no 'audio' group", "sudo groupadd --system audio")
    bad = [p.name for p in snd.iterdir()
           if p.is_char_device() and not (p.stat().st_gid == audio_gid and p.stat().st_mode & stat.S_IRWXG)]
    if bad:
        return Finding(False, "sound devices", f"not accessible to the audio group: {', '.join(sorted(bad))}",
                       "check the udev rules: /dev/snd/* should be root:audio, mode 0660")
    return Finding(True, "sound devices", "/dev/snd is accessible to the audio group")


def _credentials(root: Path) -> list[Finding]:
    creds = root / "etc/panikid/credentials"
    if not creds.is_dir():
        return []
    out = []
    if creds.stat().st_mode & 0o077:
        out.append(Finding(False, "credentials", "/etc/panikid/credentials is readable by other users",
                           "sudo chmod 700 /etc/panikid/credentials"))
    loose = [p.name for p in creds.iterdir() if p.is_file() and p.stat().st_mode & 0o077]
    if loose:
        out.append(Finding(False, "credentials", f"readable by other users: {', '.join(sorted(loose))}",
                           "sudo chmod 600 /etc/panikid/credentials/*"))
    if not out:
        names = sorted(p.name for p in creds.iterdir() if p.is_file())
        out.append(Finding(True, "credentials", ", ".join(names) if names else "none stored"))
    return out


def service_findings(root: Path = Path("/")) -> list[Finding]:
    if not (root / UNIT).is_file():
        return [Finding(True, "service", "not installed as a service (sudo scripts/install does that)")]
    settings = unit_settings(root)
    return [Finding(True, "service unit", "/" + UNIT), *_exec_start(root, settings), _enabled(root),
            _audio_access(settings), _sound_devices(root), *_credentials(root)]
