"""Assemble the assistant processor (router, conversation, intents) from the configuration."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..config import Config
from .actions import parse_actions
from .context import Conversation, estimate_tokens
from .intents import Action, IntentHandler
from .timers import TimerTable

if TYPE_CHECKING:
    from ..components import Components
    from ..llm import AssistantProcessor


def build_assistant(cfg: Config, comps: Components, transport_out: Any = None) -> AssistantProcessor:
    from ..llm import AssistantProcessor

    c = cfg.context
    count = getattr(comps.llm, "count_tokens", None) or estimate_tokens
    conversation = Conversation(c.max_tokens, c.max_turns, c.idle_reset_seconds, c.strategy, count)
    intents = IntentHandler(TimerTable(cfg.intents.max_timers)) if cfg.intents.enabled else None
    proc = AssistantProcessor(comps.router or comps.llm, cfg.llm.system_prompt,
                              conversation=conversation, intents=intents, persona=c.persona)

    def on_action(action: Action) -> None:
        # Volume is applied where the audio leaves (an output transport with ``volume``).
        if transport_out is None or not hasattr(transport_out, "volume"):
            return
        current = float(transport_out.volume)
        if action.name == "volume_up":
            transport_out.volume = min(1.0, current + 0.1)
        elif action.name == "volume_down":
            transport_out.volume = max(0.0, current - 0.1)
        elif action.name == "volume_set" and action.value is not None:
            transport_out.volume = action.value

    proc.on_action = on_action
    proc.user_actions = parse_actions(list(cfg.intents.actions))
    return proc
