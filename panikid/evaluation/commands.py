"""The commands of the evaluation corpus, kept as data in ``commands.toml``."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources

HESITATION = " ... "
"""In ``say``: the two halves are spoken apart, with a silence between them."""
FILLERS = ("um", "uh", "er", "erm", "hmm", "mm")
KINDS = ("intent", "question", "chitchat", "device")


@dataclass(frozen=True)
class Command:
    id: str
    say: str
    expect: str
    intent: str | None
    kind: str

    @property
    def parts(self) -> list[str]:
        """What is spoken, in pieces separated by a hesitation silence."""
        return [p.strip() for p in self.say.split(HESITATION.strip()) if p.strip()]

    @property
    def hesitation(self) -> str:
        """``silence``, ``filler`` or ``none``: how the command hesitates mid-sentence."""
        if len(self.parts) > 1:
            return "silence"
        words = re.findall(r"[a-z]+", self.say.lower())
        return "filler" if any(w in FILLERS for w in words) else "none"


def parse(text: str) -> list[Command]:
    """Commands from the TOML text; raises ValueError naming the entry at fault."""
    data = tomllib.loads(text)
    out: list[Command] = []
    seen: set[str] = set()
    for i, entry in enumerate(data.get("command", [])):
        where = f"command #{i + 1} ({entry.get('id', '?')})"
        cid, say, kind = entry.get("id"), entry.get("say"), entry.get("kind")
        if not isinstance(cid, str) or not cid or cid in seen:
            raise ValueError(f"{where}: id must be a unique, non-empty text")
        if not isinstance(say, str) or not say.strip():
            raise ValueError(f"{where}: say must be a non-empty text")
        if kind not in KINDS:
            raise ValueError(f"{where}: kind must be one of {', '.join(KINDS)}, got {kind!r}")
        seen.add(cid)
        expect = entry.get("expect") or re.sub(r"\s*\.\.\.\s*", " ", say).strip()
        out.append(Command(cid, say, expect, entry.get("intent") or None, kind))
    return out


@cache
def load() -> tuple[Command, ...]:
    text = resources.files(__package__).joinpath("commands.toml").read_text(encoding="utf-8")
    return tuple(parse(text))
