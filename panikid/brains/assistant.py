"""Assemble the assistant processor (router, conversation, intents) from the configuration."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..config import Config
from .actions import parse_actions
from .context import Conversation, estimate_tokens
from .intents import IntentHandler
from .timers import TimerTable

if TYPE_CHECKING:
    from ..app.components import Components
    from .processor import AssistantProcessor


def build_assistant(cfg: Config, comps: Components) -> AssistantProcessor:
    """Device actions of intents (volume, mute) are applied by whoever sets ``on_action`` (the daemon)."""
    from .processor import AssistantProcessor

    c = cfg.context
    count = getattr(comps.llm, "count_tokens", None) or estimate_tokens
    conversation = Conversation(c.max_tokens, c.max_turns, c.idle_reset_seconds, c.strategy, count)
    intents = IntentHandler(TimerTable(cfg.intents.max_timers)) if cfg.intents.enabled else None
    proc = AssistantProcessor(comps.router or comps.llm, cfg.llm.system_prompt,
                              conversation=conversation, intents=intents, persona=c.persona)
    proc.user_actions = parse_actions(list(cfg.intents.actions))
    return proc
