"""Scoring, pure: the text normaliser, word error rate, and which events belong to which item.

The normaliser makes a transcript and the expected text comparable: lower case,
no punctuation, fillers ("um") dropped, common contractions spelled out, and
number words written as digits ("twenty one" and "21" are the same word).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..events.schema import TimerFinished, Wake
from .commands import FILLERS

_UNITS = {"zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
          "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
          "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19}
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
         "ninety": 90}
_SCALES = {"hundred": 100, "thousand": 1000}
_CONTRACTIONS = {"what's": "what is", "it's": "it is", "that's": "that is", "there's": "there is",
                 "here's": "here is", "who's": "who is", "how's": "how is", "where's": "where is",
                 "let's": "let us", "i'm": "i am", "i'll": "i will", "i've": "i have", "i'd": "i would",
                 "you're": "you are", "we're": "we are", "they're": "they are", "don't": "do not",
                 "doesn't": "does not", "didn't": "did not", "can't": "cannot", "won't": "will not",
                 "isn't": "is not", "aren't": "are not"}
_SPELLINGS = {"ok": "okay", "alright": "all right"}
MAX_WAKE_REMNANT = 3
"""Leading transcript words that match nothing in the command and are forgiven as the wake phrase's tail."""


def _numbers(tokens: Iterable[str]) -> list[str]:
    """Runs of number words as one number in digits: "forty five" -> "45", "one hundred" -> "100"."""
    out: list[str] = []
    cur: int | None = None

    def flush() -> None:
        nonlocal cur
        if cur is not None:
            out.append(str(cur))
            cur = None

    for tok in tokens:
        if tok in _UNITS or tok in _TENS:
            v = _UNITS.get(tok, _TENS.get(tok, 0))
            open_tens = cur is not None and cur % 10 == 0 and cur % 100 >= 20 and tok in _UNITS and v < 10
            open_hundreds = cur is not None and cur >= 100 and cur % 100 == 0
            if cur is not None and (open_tens or open_hundreds):
                cur += v
            else:
                flush()
                cur = v
        elif tok in _SCALES and cur is not None:
            cur *= _SCALES[tok]
        else:
            flush()
            out.append(tok)
    flush()
    return out


def normalise(text: str) -> list[str]:
    """The words of ``text`` as compared by the scorer."""
    t = text.lower().replace("%", " percent ").replace("’", "'")
    t = re.sub(r"(?<=\d),(?=\d{3}\b)", "", t)  # 1,000 -> 1000
    t = re.sub(r"(?<=\d):(?=\d)", " ", t)  # 10:30 -> 10 30
    t = re.sub(r"[-–—/]", " ", t)
    t = re.sub(r"[^\w\s'.]", " ", t)
    t = re.sub(r"(?<!\d)\.|\.(?!\d)", " ", t)  # keep decimal points only
    words: list[str] = []
    for w in t.split():
        w = w.strip("'")
        w = _CONTRACTIONS.get(w, w)
        for part in w.split():
            part = _SPELLINGS.get(part, part).replace("'", "")
            if part and part not in FILLERS:
                words.append(part)
    return _numbers(words)


def edit_distance(ref: Sequence[str], hyp: Sequence[str]) -> int:
    """Word-level Levenshtein distance (substitutions, deletions, insertions)."""
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i]
        for j, h in enumerate(hyp, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h)))
        prev = cur
    return prev[-1]


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate of ``hypothesis`` against ``reference`` after normalisation."""
    ref, hyp = normalise(reference), normalise(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    return edit_distance(ref, hyp) / len(ref)


def command_wer(expect: str, transcript: str) -> tuple[float, list[str]]:
    """WER of a turn's transcript against the command, the wake phrase not expected in it.

    Up to MAX_WAKE_REMNANT leading words that only add errors (the wake phrase's
    tail heard as "I'll be", "now boo") are left out; they are returned, so a
    report can say how often that happened.
    """
    ref, hyp = normalise(expect), normalise(transcript)
    if not ref:
        return (0.0 if not hyp else 1.0), []
    best, cut = edit_distance(ref, hyp), 0
    for k in range(1, min(MAX_WAKE_REMNANT, len(hyp)) + 1):
        d = edit_distance(ref, hyp[k:])
        if d < best:
            best, cut = d, k
    return best / len(ref), hyp[:cut]


# ---------------------------------------------------------------- events to items

@dataclass
class Attributed:
    """The events of one segment (an item or a negative stretch) of a stream."""

    wakes: list[dict[str, Any]] = field(default_factory=list)
    turns: dict[int, list[dict[str, Any]]] = field(default_factory=dict)


@dataclass
class Attribution:
    segments: dict[str, Attributed]
    outside_wakes: list[dict[str, Any]] = field(default_factory=list)
    """Wake events at stream times no segment covers (the stream's lead)."""
    timer_turns: list[int] = field(default_factory=list)
    """Turns a timer's ringing started: should never happen (timers outlast a stream)."""
    unattributed_turns: list[int] = field(default_factory=list)


def _locate(starts: list[float], segments: Sequence[dict[str, Any]], t: float) -> str | None:
    i = bisect.bisect_right(starts, t) - 1
    if i >= 0 and t < segments[i]["end"]:
        return str(segments[i]["id"])
    return None


def attribute(events: Iterable[dict[str, Any]], segments: Sequence[dict[str, Any]]) -> Attribution:
    """Give each ``wake`` to the segment holding its ``stream_t`` and each turn to the segment
    of the most recent wake before the turn's first event (a turn starts at its wake word).

    A turn with no wake before it is placed by the ``stream_t`` of its first event
    that has one; a turn started by a ringing timer belongs to no item.
    """
    ordered = sorted(segments, key=lambda s: s["start"])
    starts = [float(s["start"]) for s in ordered]
    result = Attribution({str(s["id"]): Attributed() for s in ordered})
    owner: dict[int, str | None] = {}
    pending: dict[int, list[dict[str, Any]]] = {}  # turns not placed yet (no wake, no stream_t so far)
    last_wake: str | None = None
    for e in events:
        kind = e.get("type")
        if kind == Wake.type:
            seg = _locate(starts, ordered, float(e.get("stream_t", -1.0)))
            if seg is None:
                result.outside_wakes.append(e)
            else:
                result.segments[seg].wakes.append(e)
            last_wake = seg
            continue
        turn = e.get("turn")
        if not isinstance(turn, int) or turn <= 0:
            continue
        if turn not in owner and turn not in pending:
            if kind == TimerFinished.type:
                owner[turn] = None
                result.timer_turns.append(turn)
            elif last_wake is not None:
                owner[turn] = last_wake
            else:
                pending[turn] = []
        if turn in pending:
            pending[turn].append(e)
            if e.get("stream_t") is not None:
                seg = _locate(starts, ordered, float(e["stream_t"]))
                owner[turn] = seg
                held = pending.pop(turn)
                if seg is not None:
                    result.segments[seg].turns.setdefault(turn, []).extend(held)
            continue
        seg = owner[turn]
        if seg is not None:
            result.segments[seg].turns.setdefault(turn, []).append(e)
    result.unattributed_turns = sorted(pending) + sorted(
        t for t, s in owner.items() if s is None and t not in result.timer_turns)
    return result
