"""Instant intents: everyday commands answered without the LLM (pure matcher and handler).

Recognised (case and punctuation ignored; numbers as words or digits, since
Whisper writes "five" as "5" at times): the time, the date, timers (set,
cancel, list), volume (up, down, set), stop, mute, and a little small talk
(thanks, its name, what it can do). The handler returns what to
say and, for device actions, an ``Action`` the daemon carries out.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Protocol

from .timers import TimerTable, describe_duration

_UNITS = {"zero": 0, "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
          "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
          "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19}
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
         "ninety": 90}
_NUMBER = r"(\d+(?:\.\d+)?|(?:(?:" + "|".join(_TENS) + r")[ -]?)?(?:" + "|".join(_UNITS) + r")|" + \
    "|".join(_TENS) + r"|a hundred|one hundred|half an?)"
_UNIT_SECONDS = {"second": 1, "sec": 1, "minute": 60, "min": 60, "hour": 3600}


def parse_number(text: str) -> float | None:
    text = text.strip().replace("-", " ")
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    if text in ("a hundred", "one hundred"):
        return 100.0
    if text in ("half a", "half an"):
        return 0.5
    total = 0
    for word in text.split():
        if word in _UNITS:
            total += _UNITS[word]
        elif word in _TENS:
            total += _TENS[word]
        else:
            return None
    return float(total)


def normalize(text: str) -> str:
    text = text.lower().replace("%", " percent")
    text = re.sub(r"[^\w\s'.-]", " ", text)
    text = re.sub(r"(?<!\d)\.|\.(?!\d)", " ", text)  # keep decimal points only
    return re.sub(r"\s+", " ", text).strip()


@dataclass(frozen=True)
class Intent:
    name: str
    slots: dict[str, float] = field(default_factory=dict)


_DURATION = re.compile(_NUMBER + r" ?(hours?|minutes?|mins?|seconds?|secs?)\b(?: and " + _NUMBER +
                       r" ?(minutes?|mins?|seconds?|secs?)\b)?")
_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("timer_cancel", re.compile(r"\b(cancel|stop|delete|remove|clear)\b.*\btimers?\b")),
    ("timer_list", re.compile(r"\b(how (much|long).*\b(left|remaining)|(list|what|which|any).*\btimers?\b)")),
    ("timer_set", re.compile(r"\btimer\b|\b(reminds? me|wake me|count down|countdown)\b.*\bin\b")),
    ("time", re.compile(r"\b(what('s| is) the time|what time is it|tell me the time|time is it|current time)\b")),
    ("date", re.compile(r"\b(what('s| is) (the|today's|todays) date|what day is (it|today)|"
                        r"today's date|what's today|what is today)\b")),
    ("volume_set", re.compile(r"\b(volume|loudness)\b.*\b(to|at)\b ?" + _NUMBER)),
    ("volume_up", re.compile(r"\b(volume up|turn (it|the volume|yourself) up|louder|"
                             r"increase (the )?volume|raise (the )?volume)\b")),
    ("volume_down", re.compile(r"\b(volume down|turn (it|the volume|yourself) down|quieter|softer|"
                               r"decrease (the )?volume|lower (the )?volume)\b")),
    ("mute", re.compile(r"^(please )?(mute|be quiet|stop listening|mute (yourself|the microphone))( please)?$")),
    ("stop", re.compile(r"^(please )?(stop|stop it|cancel|never mind|nevermind|shut up|enough|"
                        r"that's enough)( please)?$")),
    # Small talk a small model gets wrong ("Thank you." -> "I'm sorry for your loss.").
    ("thanks", re.compile(r"^(oh |ok |okay )?(thank you|thanks|thank you very much|thanks a lot|cheers)"
                          r"( so much)?( panikid)?$")),
    ("identity", re.compile(r"^(what's|what is) your name$|^who are you$|^what are you$")),
    ("capabilities", re.compile(r"^(what can you do|what do you do|how can you help( me)?|help( me)?|"
                                r"what are you able to do)$")),
]


def match(text: str) -> Intent | None:
    """The intent ``text`` asks for, or None (then the LLM answers)."""
    t = normalize(text)
    t = re.sub(r"^(hey |ok |okay )?(panikid |please |can you |could you )*", "", t)
    for name, pattern in _PATTERNS:
        m = pattern.search(t)
        if not m:
            continue
        if name == "timer_set":
            d = _DURATION.search(t)
            if not d:
                continue
            seconds = _duration_seconds(d)
            if seconds is None or seconds <= 0:
                continue
            return Intent(name, {"seconds": seconds})
        if name == "volume_set":
            value = parse_number(m.group(m.lastindex or 0))
            if value is None:
                continue
            level = value / 100 if value > 10 else value / 10  # "to 5" = 50 %, "to 40 percent" = 40 %
            return Intent(name, {"level": min(1.0, max(0.0, level))})
        return Intent(name)
    return None


def _duration_seconds(m: re.Match[str]) -> float | None:
    first = parse_number(m.group(1))
    if first is None:
        return None
    total = first * _UNIT_SECONDS[m.group(2).rstrip("s")]
    if m.group(3):
        second = parse_number(m.group(3))
        if second is None:
            return None
        total += second * _UNIT_SECONDS[m.group(4).rstrip("s")]
    return total


@dataclass(frozen=True)
class Action:
    """A device action for the daemon: volume_up, volume_down, volume_set (level), stop, mute."""

    name: str
    value: float | None = None


@dataclass(frozen=True)
class IntentReply:
    text: str
    action: Action | None = None


class ActionSink(Protocol):
    """Where user actions are published (the MQTT surface implements it)."""

    def publish(self, topic: str, payload: str) -> None: ...


def _spoken_time(now: dt.datetime) -> str:
    hour = now.hour % 12 or 12
    return f"{hour}:{now.minute:02d} {'AM' if now.hour < 12 else 'PM'}"


class IntentHandler:
    def __init__(self, timers: TimerTable | None = None) -> None:
        self.timers = timers or TimerTable()

    def handle(self, intent: Intent, now: dt.datetime, t: float) -> IntentReply:
        """Carry out ``intent`` at wall time ``now`` / monotonic time ``t``; what to say."""
        n = intent.name
        if n == "time":
            return IntentReply(f"It is {_spoken_time(now)}.")
        if n == "date":
            return IntentReply(f"Today is {now:%A}, {now:%B} {now.day}, {now.year}.")
        if n == "timer_set":
            seconds = intent.slots["seconds"]
            try:
                timer = self.timers.add(seconds, t)
            except ValueError as exc:
                return IntentReply(f"Sorry, {exc}.")
            return IntentReply(f"Timer set for {timer.label}.")
        if n == "timer_cancel":
            gone = self.timers.cancel_all()
            if not gone:
                return IntentReply("There is no timer running.")
            return IntentReply("Timer cancelled." if len(gone) == 1 else f"{len(gone)} timers cancelled.")
        if n == "timer_list":
            left = self.timers.remaining(t)
            if not left:
                return IntentReply("There is no timer running.")
            parts = [f"{describe_duration(s)} left on the {tm.label} timer" for tm, s in left]
            return IntentReply("There " + ("is " if len(parts) == 1 else "are ") + ", and ".join(parts) + ".")
        if n == "volume_up":
            return IntentReply("Volume up.", Action("volume_up"))
        if n == "volume_down":
            return IntentReply("Volume down.", Action("volume_down"))
        if n == "volume_set":
            level = intent.slots["level"]
            return IntentReply(f"Volume set to {round(level * 100)} percent.", Action("volume_set", level))
        if n == "mute":
            return IntentReply("Muted.", Action("mute"))
        if n == "thanks":
            return IntentReply("You're welcome!")
        if n == "identity":
            return IntentReply("I'm Panikid, your voice assistant.")
        if n == "capabilities":
            return IntentReply("I can tell you the time and the date, set timers, change the volume, "
                               "and answer simple questions.")
        return IntentReply("", Action("stop"))  # stop: say nothing


def announcement(label: str) -> str:
    return f"Your {label} timer is done."
