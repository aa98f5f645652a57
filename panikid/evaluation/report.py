"""Rates from the per-item outcomes: overall and by pause, voice and condition; a table and JSON."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable
from typing import Any

from .plan import CONDITIONS

Item = dict[str, Any]


def _pct(n: int, d: int) -> float | None:
    return round(100.0 * n / d, 1) if d else None


def summarise(items: list[Item]) -> dict[str, Any]:
    n = len(items)
    lat = sorted(float(i["latency_ms"]) for i in items if i.get("latency_ms") is not None)
    return {
        "items": n,
        "wake_pct": _pct(sum(i["wake_ok"] for i in items), n),
        "turn_success_pct": _pct(sum(i["success"] for i in items), n),
        "strict_success_pct": _pct(sum(bool(i.get("strict_success", i["success"])) for i in items), n),
        "mean_wer": round(statistics.fmean(i["wer"] for i in items), 3) if n else None,
        "abandoned_items": sum(1 for i in items if i["abandoned"]),
        "no_transcript": sum(1 for i in items if i["transcripts"] == 0),
        "ended_in_pause": sum(1 for i in items if i.get("ended_in_pause"))
        if any(i.get("ended_in_pause") is not None for i in items) else None,
        "wake_remnant": sum(1 for i in items if i.get("wake_remnant")),
        "unhandled": sum(1 for i in items if i.get("unhandled")),
        "latency_ms": {"n": len(lat), "median": round(statistics.median(lat), 1) if lat else None,
                       "p90": round(lat[min(len(lat) - 1, int(0.9 * len(lat)))], 1) if lat else None},
    }


def _group(items: Iterable[Item], key: Callable[[Item], str]) -> dict[str, list[Item]]:
    groups: dict[str, list[Item]] = {}
    for item in items:
        groups.setdefault(key(item), []).append(item)
    return groups


def _pause(item: Item) -> str:
    return f"{float(item['pause']):.1f}"


_COND_ORDER = {c.label: i for i, c in enumerate(CONDITIONS)}


def _ordered(groups: dict[str, list[Item]], order: Callable[[str], Any]) -> dict[str, dict[str, Any]]:
    return {k: summarise(groups[k]) for k in sorted(groups, key=order)}


def negatives_summary(negatives: list[Item], outside_wakes: int) -> dict[str, Any]:
    def block(segs: list[Item], extra: int = 0) -> dict[str, Any]:
        hours = sum(s["seconds"] for s in segs) / 3600
        wakes = sum(s["false_wakes"] for s in segs) + extra
        return {"hours": round(hours, 3), "minutes": round(hours * 60, 1), "false_wakes": wakes,
                "per_hour": round(wakes / hours, 2) if hours else None,
                "replies": sum(s["replies"] for s in segs)}

    by_kind = {k: block(v) for k, v in sorted(_group(negatives, lambda s: s["negative_kind"]).items())}
    by_voice = {k: block(v) for k, v in sorted(_group(
        [s for s in negatives if s.get("voice_group")], lambda s: s["voice_group"]).items())}
    return {**block(negatives, outside_wakes), "by_kind": by_kind, "by_voice": by_voice}


def build(items: list[Item], negatives: list[Item], header: dict[str, Any],
          outside_negative_wakes: int = 0) -> dict[str, Any]:
    reasons: dict[str, int] = {}
    for item in items:
        for r in item["abandoned"]:
            reasons[r] = reasons.get(r, 0) + 1
    return {
        **header,
        "overall": summarise(items),
        "by_pause": _ordered(_group(items, _pause), float),
        "by_condition": _ordered(_group(items, lambda i: i["condition"]), lambda k: _COND_ORDER.get(k, 99)),
        "by_voice": _ordered(_group(items, lambda i: i["voice_group"]), str),
        # What each voice does without noise: the honest wake rate of a voice.
        "by_voice_clean": _ordered(_group([i for i in items if i["condition"] == "clean"],
                                          lambda i: i["voice_group"]), str),
        "by_command_kind": _ordered(_group(items, lambda i: i["command_kind"]), str),
        "by_hesitation": _ordered(_group(items, lambda i: i["hesitation"]), str),
        "by_pause_condition": _ordered(_group(items, lambda i: f"{_pause(i)} | {i['condition']}"),
                                       lambda k: (float(k.split(" | ")[0]), _COND_ORDER.get(k.split(" | ")[1], 99))),
        "abandoned_reasons": dict(sorted(reasons.items(), key=lambda kv: -kv[1])),
        "negatives": negatives_summary(negatives, outside_negative_wakes),
    }


# ---------------------------------------------------------------- text

def _fmt(v: Any, suffix: str = "") -> str:
    return "-" if v is None else f"{v}{suffix}"


def _table(title: str, rows: dict[str, dict[str, Any]], latency: bool) -> list[str]:
    head = f"{title:<22} {'items':>5} {'wake':>7} {'success':>8} {'strict':>7} {'WER':>6} {'abandon':>7} {'cut':>4}"
    head += f" {'lat med':>8} {'p90':>7}" if latency else ""
    lines = [head, "-" * len(head)]
    for name, s in rows.items():
        line = (f"{name:<22} {s['items']:>5} {_fmt(s['wake_pct'], '%'):>7} {_fmt(s['turn_success_pct'], '%'):>8} "
                f"{_fmt(s['strict_success_pct'], '%'):>7} "
                f"{_fmt(s['mean_wer']):>6} {s['abandoned_items']:>7} {_fmt(s['ended_in_pause']):>4}")
        if latency:
            line += f" {_fmt(s['latency_ms']['median']):>8} {_fmt(s['latency_ms']['p90']):>7}"
        lines.append(line)
    return lines + [""]


def format_text(report: dict[str, Any]) -> str:
    latency = report.get("pace") == "realtime"
    out = [f"panikid eval: slice {report['slice']}, pace {report['pace']}, corpus {report['corpus']['key']} "
           f"({report['corpus']['items']} items, {report['corpus']['positive_minutes']} min positive, "
           f"{report['corpus']['negative_minutes']} min negative audio)",
           f"config: {report['config']['source']}; eval settings: "
           + ", ".join(f"{k}={v}" for k, v in report["config"]["eval_settings"].items()),
           f"wall time: corpus {report['wall_seconds']['corpus']} s, daemon {report['wall_seconds']['daemon']} s",
           f"latency: {report['latency_note']}", ""]
    out += _table("overall", {"all items": report["overall"]}, latency)
    out += _table("pause (s)", report["by_pause"], latency)
    out += _table("condition", report["by_condition"], latency)
    out += _table("voice", report["by_voice"], latency)
    out += _table("voice, clean only", report["by_voice_clean"], latency)
    out += _table("command kind", report["by_command_kind"], latency)
    out += _table("hesitation", report["by_hesitation"], latency)
    conds = [c.label for c in CONDITIONS if any(k.endswith(f"| {c.label}") for k in report["by_pause_condition"])]
    if conds:
        head = f"{'success % pause':<16}" + "".join(f"{c:>13}" for c in conds)
        out += [head, "-" * len(head)]
        for pause in report["by_pause"]:
            cells = [report["by_pause_condition"].get(f"{pause} | {c}") for c in conds]
            out.append(f"{pause:<16}" + "".join(
                f"{(_fmt(c['turn_success_pct'], '%') + ' /' + str(c['items'])) if c else '':>13}" for c in cells))
        out.append("")
    neg = report["negatives"]
    out.append(f"negatives: {neg['minutes']} min, {neg['false_wakes']} false wakes, "
               f"{_fmt(neg['per_hour'])} per hour")
    for kind, b in neg["by_kind"].items():
        out.append(f"  {kind:<10} {b['minutes']:>7} min {b['false_wakes']:>4} false wakes ({_fmt(b['per_hour'])}/h)")
    if report["abandoned_reasons"]:
        out += ["", "abandoned turns by reason:"]
        out += [f"  {n:>4}  {r}" for r, n in report["abandoned_reasons"].items()]
    if report.get("notes"):
        out += ["", *[f"note: {n}" for n in report["notes"]]]
    out += ["", "wake: exactly one wake word in the item. success: one transcript, WER <= 0.2, the right intent.",
            "strict: the same, with the wake phrase's tail in the transcript counted as errors.",
            "cut: the turn ended before the command began (inside the pause); '-' when the daemon does not say "
            "where in the audio the speech stopped."]
    return "\n".join(out) + "\n"
