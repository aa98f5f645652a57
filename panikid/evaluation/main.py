"""``panikid eval``: make (or reuse) the slice's corpus, run the daemon on it, score, report."""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .. import __version__
from . import outcome
from .corpus import CorpusError, Progress, build, cache_root
from .plan import make_plan
from .report import build as build_report
from .report import format_text
from .runner import run_stream, settings
from .score import attribute


class EvalError(Exception):
    """The evaluation could not run (no corpus, a daemon that failed)."""


def _stderr(msg: str) -> None:
    print(f"eval: {msg}", file=sys.stderr, flush=True)


def _latency_note(pace: str) -> str:
    if pace == "realtime":
        return ("real-time pace: milliseconds from the end of the user's speech to the first reply audio "
                "(speech_end_to_first_audio_ms where the daemon reports it, else eos_to_first_audio_ms)")
    return "fast pace: the audio is read faster than real time, so latency figures are not meaningful (omitted)"


def evaluate(slice_name: str, pace: str, config: str | None, config_source: str, out_dir: Path | None,
             progress: Progress = _stderr) -> dict[str, Any]:
    """Run the evaluation; the report (per-item results are in ``report['items']``)."""
    started = time.perf_counter()
    plan = make_plan(slice_name)
    try:
        manifest = build(plan, progress=progress)
    except CorpusError as exc:
        raise EvalError(str(exc)) from exc
    corpus_seconds = time.perf_counter() - started
    corpus_dir = Path(manifest["dir"])
    with tempfile.TemporaryDirectory(prefix="panikid-eval-") as tmp:
        work = out_dir or Path(tmp)
        items: list[dict[str, Any]] = []
        negatives: list[dict[str, Any]] = []
        notes: list[str] = []
        daemon_seconds = 0.0
        outside_negative = outside_positive = 0
        timer_turns = unattributed = 0
        for stream in manifest["streams"]:
            progress(f"running the daemon on {stream['name']} ({stream['seconds'] / 60:.1f} min of audio, "
                     f"{len(stream['segments'])} segments, {pace} pace)")
            result = run_stream(corpus_dir / stream["file"], work / "events" / f"{stream['name']}.jsonl",
                                _log_path(work, stream["name"]), pace, config, stream["seconds"])
            daemon_seconds += result.seconds
            if result.code != 0:
                why = "did not finish in time" if result.code == -1 else f"exited with status {result.code}"
                raise EvalError(f"panikid run {why} on {stream['name']}:\n{result.stderr_tail.strip()}")
            progress(f"{stream['name']}: {result.seconds:.0f} s")
            got = attribute(result.events, stream["segments"])
            for seg in stream["segments"]:
                seg_events = got.segments[str(seg["id"])]
                judged = outcome.positive(seg, seg_events) if seg["kind"] == "positive" else \
                    outcome.negative(seg, seg_events)
                (items if seg["kind"] == "positive" else negatives).append({**judged, "stream": stream["name"]})
            if stream["kind"] == "negative":
                outside_negative += len(got.outside_wakes)
            else:
                outside_positive += len(got.outside_wakes)
            timer_turns += len(got.timer_turns)
            unattributed += len(got.unattributed_turns)
    if timer_turns:
        notes.append(f"{timer_turns} timer(s) rang during a stream: the items after them may be affected")
    if unattributed:
        notes.append(f"{unattributed} turn(s) could not be given to an item")
    if outside_positive:
        notes.append(f"{outside_positive} wake word(s) in the silence that opens a positive stream")
    remnants = len([i for i in items if i.get("wake_remnant")])
    notes.append(f"the wake phrase is not expected in a transcript: up to 3 leading words matching nothing in "
                 f"the command (its tail, heard as e.g. \"I'll be\") are not counted; {remnants} transcript(s) "
                 f"had such words")
    pos_min = sum(s["seconds"] for s in manifest["streams"] if s["kind"] == "positive") / 60
    neg_min = sum(s["seconds"] for s in manifest["streams"] if s["kind"] == "negative") / 60
    header = {
        "panikid": __version__, "slice": slice_name, "pace": pace,
        "corpus": {"key": manifest["key"], "dir": str(corpus_dir), "cached": manifest["cached"],
                   "generator_version": manifest["generator_version"], "items": len(items),
                   "negative_segments": len(negatives), "streams": len(manifest["streams"]),
                   "positive_minutes": round(pos_min, 1), "negative_minutes": round(neg_min, 1)},
        "config": {"source": config_source, "eval_settings": settings(pace)},
        "wall_seconds": {"corpus": round(corpus_seconds, 1), "daemon": round(daemon_seconds, 1),
                         "total": round(time.perf_counter() - started, 1)},
        "latency_note": _latency_note(pace), "notes": notes,
    }
    report = build_report(items, negatives, header, outside_negative)
    if pace != "realtime":  # figures at fast pace would only mislead
        for block in _summaries(report):
            block.pop("latency_ms", None)
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "items.json").write_text(json.dumps(items, indent=1), encoding="utf-8")
        (out_dir / "negatives.json").write_text(json.dumps(negatives, indent=1), encoding="utf-8")
        (out_dir / "report.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    return report


def _summaries(report: dict[str, Any]) -> list[dict[str, Any]]:
    blocks = [report["overall"]]
    for key, value in report.items():
        if key.startswith("by_") and isinstance(value, dict):
            blocks += list(value.values())
    return blocks


def _log_path(work: Path, name: str) -> Path:
    path = work / "logs" / f"{name}.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def run_eval(slice_name: str, pace: str, config: str | None, config_source: str, out_dir: str | None,
             as_json: bool) -> int:
    """The CLI's entry: 0 when the evaluation ran (whatever the rates), 1 when it could not."""
    try:
        report = evaluate(slice_name, pace, config, config_source, Path(out_dir) if out_dir else None)
    except EvalError as exc:
        print(f"panikid: eval: {exc}", file=sys.stderr)
        return 1
    if as_json:
        print(json.dumps(report, indent=1))
    else:
        sys.stdout.write(format_text(report))
    if out_dir:
        _stderr(f"per-item results in {Path(out_dir) / 'items.json'}; corpus cache {cache_root()}")
    return 0
