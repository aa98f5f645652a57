"""The conversation remembered between turns, kept within a token budget (pure; time passed in).

* sliding-window (default): the oldest question/answer pairs are dropped first,
  and when the window is full it is halved at once rather than slid by one
  pair: the remembered turns then stay the same prefix of the next prompts, so
  the local model reuses what it already computed for them (its prompt cache)
  instead of reading the whole history again on every turn.
* summarize: dropped pairs are condensed into a short summary by the active LLM
  (the caller supplies ``summarize(text) -> str``), kept as one system note.

The conversation is forgotten after ``idle_reset_seconds`` without a turn.
An interrupted reply is remembered only as far as it was spoken: the caller
passes the sentences whose speech finished (``spoken``), not the whole text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

Message = dict[str, str]


def estimate_tokens(text: str) -> int:
    """A tokenizer-free estimate: about four characters per token."""
    return max(1, (len(text) + 3) // 4)


@dataclass
class Exchange:
    user: str
    assistant: str


@dataclass
class Conversation:
    max_tokens: int = 512
    max_turns: int = 8
    idle_reset_seconds: float = 300.0
    strategy: str = "sliding-window"
    count: Callable[[str], int] = estimate_tokens
    exchanges: list[Exchange] = field(default_factory=list)
    summary: str = ""
    last_t: float | None = None
    pending: list[Exchange] = field(default_factory=list)
    """Exchanges dropped from the window, waiting to be summarised (summarize strategy)."""

    def _tokens(self, ex: Exchange) -> int:
        return self.count(ex.user) + self.count(ex.assistant)

    def expire(self, now: float) -> bool:
        """Forget everything if the conversation sat idle too long; True if it did."""
        idle = self.last_t is not None and self.idle_reset_seconds > 0 and now - self.last_t >= self.idle_reset_seconds
        if idle:
            self.reset()
        return idle

    def reset(self) -> None:
        self.exchanges.clear()
        self.pending.clear()
        self.summary = ""
        self.last_t = None

    def messages(self, system: str, user: str, now: float) -> list[Message]:
        """The messages for the next turn: system prompt, remembered turns, the new question."""
        self.expire(now)
        out: list[Message] = [{"role": "system", "content": system}]
        if self.summary:
            out.append({"role": "system", "content": f"Earlier in this conversation: {self.summary}"})
        for ex in self.exchanges:
            out.append({"role": "user", "content": ex.user})
            out.append({"role": "assistant", "content": ex.assistant})
        out.append({"role": "user", "content": user})
        return out

    def add(self, user: str, assistant: str, now: float) -> None:
        """Remember a finished turn (``assistant`` = what was actually spoken)."""
        self.last_t = now
        if not assistant.strip():
            assistant = "(no answer)"
        self.exchanges.append(Exchange(user.strip(), assistant.strip()))
        self._fit()

    def _over(self, turns: int, tokens: int) -> bool:
        return len(self.exchanges) > turns or sum(self._tokens(e) for e in self.exchanges) > tokens

    def _fit(self) -> None:
        if not self._over(self.max_turns, self.max_tokens):
            return
        # Full: drop the oldest pairs down to half of each limit (keeping the newest pair),
        # then anything still over the limits (a single pair larger than the budget).
        while len(self.exchanges) > 1 and self._over(self.max_turns // 2, self.max_tokens // 2):
            self._drop_oldest()
        while self.exchanges and self._over(self.max_turns, self.max_tokens):
            self._drop_oldest()

    def _drop_oldest(self) -> None:
        dropped = self.exchanges.pop(0)
        if self.strategy == "summarize":
            self.pending.append(dropped)

    def summarize_pending(self, summarize: Callable[[str], str]) -> None:
        """Condense dropped turns (and the old summary) into a new summary (blocking: an LLM call)."""
        if not self.pending:
            return
        lines = [f"Earlier summary: {self.summary}"] if self.summary else []
        lines += [f"User: {e.user}\nAssistant: {e.assistant}" for e in self.pending]
        self.pending.clear()
        text = summarize("\n".join(lines)).strip()
        if text:
            self.summary = text[: self.max_tokens * 4 // 2]  # never more than half the budget


def spoken_part(sentences: list[str], finished: int) -> str:
    """The reply as far as the user heard it: the first ``finished`` sentences."""
    return " ".join(s.strip() for s in sentences[:finished]).strip()
