"""Helpers shared by the tests: run the CLI in a fresh process and read its events."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def events(self) -> list[dict]:
        return [json.loads(line) for line in self.stdout.splitlines() if line.startswith("{")]

    def of_type(self, type_: str) -> list[dict]:
        return [e for e in self.events if e["type"] == type_]


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 300, cwd: Path | None = None) -> Result:
    """Run ``panikid ARGS`` in a fresh process (as a user would)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("PANIKID_")}
    full_env["HF_HUB_OFFLINE"] = "1"
    full_env.update(env or {})
    proc = subprocess.run(
        [sys.executable, "-m", "panikid", *args], capture_output=True, text=True, timeout=timeout,
        env=full_env, cwd=cwd or REPO,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def similarity(a: str, b: str) -> float:
    """How alike two texts are (0..1), on letters and digits only: numbers come back
    from speech recognition in other spellings ("12:00" as "1200")."""
    import difflib
    import re

    def norm(x: str) -> str:
        return re.sub(r"[^a-z0-9]", "", x.lower())

    return difflib.SequenceMatcher(None, norm(a), norm(b)).ratio()
