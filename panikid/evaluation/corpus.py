"""The corpus on disk: clips rendered once, items mixed, streams written, a manifest last.

It lives in ``${XDG_CACHE_HOME:-~/.cache}/panikid/eval/<key>``, where the key
hashes the generator version and the slice's plan; a corpus whose manifest
exists is reused as it is. The manifest is written last, so an interrupted
build is finished (not trusted) by the next run.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..devtools import fixtures
from . import GENERATOR_VERSION
from .plan import Plan
from .render import Rendered, render_item, render_negative
from .streams import pack
from .voices import Voice, clip_path, missing_tools, render

MANIFEST = "manifest.json"
Progress = Callable[[str], None]


class CorpusError(Exception):
    """The corpus could not be made (a tool is missing, a synthesizer failed)."""


def _stderr(msg: str) -> None:
    print(f"eval: {msg}", file=sys.stderr, flush=True)


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "panikid" / "eval"


def _requests(plan: Plan) -> list[tuple[Voice, str]]:
    req: list[tuple[Voice, str]] = []
    for item in plan.items:
        parts = item.command.parts
        if item.pause == 0:
            req.append((item.voice, item.voice.with_wake(parts[0])))
        else:
            req += [(item.voice, item.voice.wake_phrase), (item.voice, parts[0])]
        req += [(item.voice, p) for p in parts[1:]]
    for neg in plan.negatives:
        if neg.voice is not None:
            req += [(neg.voice, s) for s in neg.sentences]
    return req + list(plan.babble_talkers)


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(".part")
    tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
    tmp.replace(path)


def load_manifest(directory: Path) -> dict[str, Any] | None:
    path = directory / MANIFEST
    if not path.exists():
        return None
    manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    if all((directory / s["file"]).exists() for s in manifest["streams"]):
        return manifest
    return None


def build(plan: Plan, root: Path | None = None, progress: Progress = _stderr) -> dict[str, Any]:
    """The slice's corpus (made now unless it is cached); its manifest, with ``dir`` set."""
    directory = (root or cache_root()) / plan.key()
    cached = load_manifest(directory)
    if cached is not None:
        progress(f"corpus {plan.slice} cached in {directory}")
        return {**cached, "dir": str(directory), "cached": True}
    requests = _requests(plan)
    if any(v.engine == "espeak" for v, _ in requests) and (missing := missing_tools()):
        raise CorpusError(f"{', '.join(missing)} not found: install the Debian packages espeak-ng and sox")
    started = time.perf_counter()
    clips_dir = directory / "clips"
    progress(f"rendering {len(set(requests))} phrases (piper and espeak-ng) into {clips_dir}")
    try:
        render(requests, clips_dir)
    except (OSError, ValueError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", b"") or b""  # a failed synthesizer's own words
        tail = detail.decode(errors="replace")[-500:] if isinstance(detail, bytes) else str(detail)[-500:]
        raise CorpusError(f"speech synthesis failed: {exc} {tail}".strip()) from exc
    loaded: dict[Path, np.ndarray] = {}

    def clip(voice: Voice, text: str) -> np.ndarray:
        path = clip_path(clips_dir, voice, text)
        if path not in loaded:
            loaded[path] = fixtures.read_pcm(path)
        return loaded[path]

    talkers = [clip(v, t) for v, t in plan.babble_talkers]
    order = random.Random(plan.key())
    items = list(plan.items)
    order.shuffle(items)  # pauses and conditions mixed through every stream
    negatives = list(plan.negatives)
    order.shuffle(negatives)
    progress(f"mixing {len(items)} items and {len(negatives)} negative stretches into streams")
    pos: Iterator[Rendered] = (render_item(i, clip, talkers) for i in items)
    neg: Iterator[Rendered] = (render_negative(n, clip, talkers) for n in negatives)
    streams: list[dict[str, Any]] = []
    for kind, pieces, prefix in (("positive", pos, "pos"), ("negative", neg, "neg")):
        for stream in pack(pieces, kind, prefix):
            path = directory / "streams" / f"{stream.name}.wav"
            tmp = path.with_suffix(".part.wav")
            fixtures.write_pcm(tmp, stream.audio())
            tmp.replace(path)
            streams.append({"name": stream.name, "kind": kind, "file": f"streams/{path.name}",
                            "seconds": round(stream.seconds, 3), "segments": stream.segments})
    manifest = {"key": plan.key(), "slice": plan.slice, "generator_version": GENERATOR_VERSION,
                "build_seconds": round(time.perf_counter() - started, 1), "streams": streams}
    _write_json(directory / MANIFEST, manifest)
    progress(f"corpus {plan.slice} ready in {directory} ({manifest['build_seconds']} s)")
    return {**manifest, "dir": str(directory), "cached": False}

