"""Runs the real daemon on each stream: ``panikid run --input STREAM --pace P --events FILE``.

The daemon is a subprocess, as a user would run it, with a few settings that
keep the evaluation fast or independent from item to item without changing
what is measured (``EVAL_SETTINGS``: environment overrides on top of the
configuration). At fast pace the daemon waits while a turn is being answered,
so every item is answered before the next one is read.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

EVAL_SETTINGS = {
    "web.enabled": "false",  # no port to bind, no status page to serve
    "mqtt.enabled": "false",  # never publish the evaluation to a real broker
    "context.max_turns": "0",  # no conversation history: an item cannot influence the next
    "context.follow_up_seconds": "0",  # every turn starts with its own wake word
    "intents.max_timers": "100",  # a stream sets more timers than a kitchen does
}
FAST_SETTINGS = {
    "llm.max_tokens": "24",  # replies are not scored; only their start, which a shorter limit leaves alone
}


@dataclass
class RunResult:
    code: int
    seconds: float
    events: list[dict[str, Any]]
    stderr_tail: str


def settings(pace: str) -> dict[str, str]:
    return {**EVAL_SETTINGS, **(FAST_SETTINGS if pace == "fast" else {})}


def _env(pace: str) -> dict[str, str]:
    env = dict(os.environ)
    env["HF_HUB_OFFLINE"] = "1"  # the evaluation never downloads a model
    for key, value in settings(pace).items():
        section, name = key.split(".")
        env[f"PANIKID_{section.upper()}_{name.upper()}"] = value
    return env


def read_events(path: Path) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    if not path.exists():
        return events
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line cut by a killed daemon
    return events


def run_stream(wav: Path, events_path: Path, log_path: Path, pace: str, config: str | None,
               stream_seconds: float) -> RunResult:
    """One daemon process over one stream; its events (read back from ``events_path``)."""
    events_path.parent.mkdir(parents=True, exist_ok=True)
    events_path.unlink(missing_ok=True)  # --events appends
    cmd = [sys.executable, "-m", "panikid", "run", "--input", str(wav), "--pace", pace,
           "--events", str(events_path)]
    if config:
        cmd += ["--config", config]
    # Generous: model loading, and a slow shared machine; real time needs the stream's length.
    timeout = 180 + stream_seconds * (1.5 if pace == "realtime" else 1.0)
    started = time.perf_counter()
    with open(log_path, "w", encoding="utf-8") as log:
        try:
            proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=log, env=_env(pace), timeout=timeout,
                                  check=False)
            code = proc.returncode
        except subprocess.TimeoutExpired:
            code = -1
    seconds = time.perf_counter() - started
    tail = log_path.read_text(encoding="utf-8", errors="replace")[-2000:]
    return RunResult(code, seconds, read_events(events_path), tail)
