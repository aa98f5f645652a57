"""The instant intents offered to capable (cloud) LLMs as function-calling tools.

One table (``TOOLS``) says which intent each tool runs and which arguments it
takes; the OpenAI ``tools`` schemas are derived from it (``schemas()``), and
``run_tool`` validates a model's call against it, builds the ``Intent`` and
runs the same ``IntentHandler`` the instant intents use, so a tool call sets
the same timers and produces the same reply and device action.

A call the table does not allow (unknown tool, arguments that are not a JSON
object, a missing, unknown, non-numeric or out-of-range argument) is not
carried out: the result says ``Sorry, I could not do that.`` and names the
problem in ``error`` for the caller's error event.

A provider reports the calls a model made by raising ``ToolCallsRequested``
at the end of its stream (a signal, not a failure: the router does not fall
back on it).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass, field
from typing import Any

from .intents import Action, Intent, IntentHandler

SORRY = "Sorry, I could not do that."


@dataclass(frozen=True)
class Arg:
    """A numeric argument: its JSON schema type, meaning, range and how it maps to the intent slot."""

    slot: str
    description: str
    minimum: float
    maximum: float
    scale: float = 1.0  # slot value = argument * scale
    integer: bool = False


@dataclass(frozen=True)
class Tool:
    name: str
    intent: str
    description: str
    args: dict[str, Arg] = field(default_factory=dict)


TOOLS: tuple[Tool, ...] = (
    Tool("get_time", "time", "Tell the user the current local time."),
    Tool("get_date", "date", "Tell the user today's date."),
    Tool("set_timer", "timer_set", "Start a countdown timer; the device announces when it is done. "
         "Use it for reminders and wake-up requests too.",
         {"seconds": Arg("seconds", "Length of the timer in seconds (twenty minutes = 1200).", 1, 86400)}),
    Tool("cancel_timers", "timer_cancel", "Cancel all running timers."),
    Tool("list_timers", "timer_list", "Tell the user how much time is left on the running timers."),
    Tool("volume_up", "volume_up", "Make the speaker louder by one step."),
    Tool("volume_down", "volume_down", "Make the speaker quieter by one step."),
    Tool("set_volume", "volume_set", "Set the speaker volume.",
         {"percent": Arg("level", "Volume in percent, 0 to 100.", 0, 100, scale=0.01)}),
    Tool("stop", "stop", "Stop talking (the user wants silence now)."),
    Tool("mute", "mute", "Mute the microphone: stop listening until the user unmutes."),
)
BY_NAME = {t.name: t for t in TOOLS}


def schemas() -> list[dict[str, Any]]:
    """The tools in OpenAI's chat completions ``tools`` format."""
    out: list[dict[str, Any]] = []
    for t in TOOLS:
        props = {name: {"type": "integer" if a.integer else "number", "description": a.description,
                        "minimum": a.minimum, "maximum": a.maximum} for name, a in t.args.items()}
        params = {"type": "object", "properties": props, "required": list(t.args),
                  "additionalProperties": False}
        out.append({"type": "function", "function": {"name": t.name, "description": t.description,
                                                      "parameters": params}})
    return out


@dataclass(frozen=True)
class ToolCall:
    """One function call a model asked for (arguments as the raw JSON text it streamed)."""

    id: str
    name: str
    arguments: str


class ToolCallsRequested(Exception):  # noqa: N818 - a signal, not an error
    """Raised by a provider when its reply ends with tool calls instead of (only) text."""

    def __init__(self, calls: list[ToolCall]) -> None:
        super().__init__(", ".join(c.name for c in calls))
        self.calls = calls


@dataclass(frozen=True)
class ToolResult:
    text: str
    action: Action | None = None
    error: str | None = None
    """Why the call was refused (then ``text`` is the apology); None when it ran."""


def parse_call(name: str, arguments: str) -> Intent:
    """The intent a call asks for; ValueError naming the problem when the call is not valid."""
    tool = BY_NAME.get(name)
    if tool is None:
        raise ValueError(f"unknown tool {name!r} (known: {', '.join(BY_NAME)})")
    try:
        args = json.loads(arguments) if arguments.strip() else {}
    except json.JSONDecodeError as exc:
        raise ValueError(f"{name}: arguments are not valid JSON ({exc.msg} at {exc.pos}): {arguments[:80]!r}") \
            from None
    if not isinstance(args, dict):
        raise ValueError(f"{name}: arguments must be a JSON object, got {type(args).__name__}")
    unknown = sorted(set(args) - set(tool.args))
    if unknown:
        raise ValueError(f"{name}: unknown argument {', '.join(unknown)} (allowed: {', '.join(tool.args) or 'none'})")
    slots: dict[str, float] = {}
    for key, spec in tool.args.items():
        if key not in args:
            raise ValueError(f"{name}: missing argument {key!r}")
        value = args[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValueError(f"{name}: {key} must be a number, got {value!r}")
        if not spec.minimum <= value <= spec.maximum:
            raise ValueError(f"{name}: {key} must be between {spec.minimum:g} and {spec.maximum:g}, got {value!r}")
        slots[spec.slot] = float(value) * spec.scale
    return Intent(tool.intent, slots)


def run_tool(handler: IntentHandler, name: str, arguments: str, now: dt.datetime, t: float) -> ToolResult:
    """Carry out one tool call with the intent handler at wall time ``now`` / monotonic ``t``."""
    try:
        intent = parse_call(name, arguments)
    except ValueError as exc:
        return ToolResult(SORRY, None, str(exc))
    reply = handler.handle(intent, now, t)
    return ToolResult(reply.text, reply.action)
