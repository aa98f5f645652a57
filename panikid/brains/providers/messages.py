"""Chat messages for the vendors whose APIs take the system prompt apart (Anthropic, Gemini).

The first message, when it is a system message, is the system prompt. A
system message later in the conversation (the summary of earlier turns) is put
in front of the next user message, so it keeps its place in the conversation
instead of being merged into the system prompt.
"""

from __future__ import annotations

from .base import Message


def split_system(messages: list[Message]) -> tuple[str, list[Message]]:
    """(system prompt, user/assistant messages with later system notes folded into the next question)."""
    system = messages[0]["content"] if messages and messages[0]["role"] == "system" else ""
    rest: list[Message] = []
    notes: list[str] = []
    for m in messages[1:] if system else messages:
        if m["role"] == "system":
            notes.append(m["content"])
        elif m["role"] == "user" and notes:
            rest.append({"role": "user", "content": "".join(f"({n})\n" for n in notes) + m["content"]})
            notes = []
        else:
            rest.append({"role": m["role"], "content": m["content"]})
    return system, rest
