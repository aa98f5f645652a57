"""What the language model is told (pure): the system prompt with the date and part of the day, and the fixed texts."""

from __future__ import annotations

import datetime as dt

APOLOGY = "Sorry, I cannot answer that right now."


SUMMARY_PROMPT = "Summarize this conversation in one or two short sentences. Keep names and numbers."


def leading_prompt(prompt: str, persona: str = "") -> str:
    """The first system message: the configured prompt and persona (the same on every turn)."""
    return prompt + (f"\n{persona}" if persona else "")


def part_of_day(hour: int) -> str:
    return "night" if hour < 5 else "morning" if hour < 12 else "afternoon" if hour < 18 else "evening"


def system_prompt(base: str, now: dt.datetime | None = None) -> str:
    """The configured prompt plus what a model cannot know by itself: the date and part of day.

    Not the minute: the system prompt is the start of every prompt, and while
    it stays the same the local model reuses what it computed for it and the
    remembered turns (its prompt cache). A clock in it would change it every
    minute and make the model read the whole conversation again each turn.
    The exact time is the instant "what time is it" intent's (and tool's) job.
    """
    now = now or dt.datetime.now().astimezone()
    return f"{base}\nIt is now {now:%A %d %B %Y}, in the {part_of_day(now.hour)}."
