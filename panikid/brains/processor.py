"""The assistant processor: answers each transcript with an instant intent, an honest "I can't", or a
language model (the local one, a cloud one, or the router between them), with the conversation as context.

Models run in this processor's worker thread and stream their pieces back to the event loop; an
interruption stops the generation at the next piece.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import Any

from .. import events as ev
from ..events.schema import AudioStarted, AudioStopped, IntentHandled, Reply, TimerFinished, Unhandled
from ..pipeline.frames import (
    DataFrame,
    LLMResponseEndFrame,
    LLMResponseStartFrame,
    LLMTextFrame,
    TranscriptionFrame,
    TTSSpeakFrame,
)
from ..pipeline.processor import FrameProcessor
from ..pipeline.turns import next_turn_id
from ..text.sentences import SentenceSplitter
from . import intents as intents_mod
from . import streaming, unhandled
from .actions import UserAction, match_action, run_action
from .context import Conversation, spoken_part
from .factory import policy_for
from .intents import Action, ActionSink, IntentHandler
from .prompt import APOLOGY, SUMMARY_PROMPT, leading_prompt, system_prompt
from .providers.base import Message, Provider
from .router import Outcome, Router
from .tools import SORRY, ToolCall, run_tool

log = logging.getLogger(__name__)

TIMER_TICK = 0.2


class AssistantProcessor(FrameProcessor):
    """Answers each transcript: an instant intent if one matches, else the LLM (or router).

    With a ``Router`` as the backend, the reply event names the brain that
    answered and why an earlier one was skipped; when every brain failed the
    assistant speaks a short apology and an ``error`` event is published.
    """

    settings_keys = frozenset({"llm.system_prompt", "llm.backend"})

    def __init__(
        self,
        backend: Provider,
        prompt: str,
        clock: Callable[[], dt.datetime] | None = None,
        *,
        conversation: Conversation | None = None,
        intents: IntentHandler | None = None,
        persona: str = "",
        monotonic: Callable[[], float] = time.monotonic,
        backend_choice: str = "auto",
        on_action: Callable[[Action], None] | None = None,
        user_actions: list[UserAction] | None = None,
        action_sink: ActionSink | None = None,
    ) -> None:
        super().__init__("assistant")
        self.backend = backend
        self.prompt = prompt
        self.clock = clock
        self.conversation = conversation
        self.intents = intents
        self.persona = persona
        self.monotonic = monotonic
        self.backend_choice = backend_choice
        """auto, local or cloud: the router policy for the next turns (``auto`` = configured)."""
        self.on_action = on_action
        """Carries out the device actions of intents and tools (volume, mute, stop): the daemon's controls."""
        self.user_actions = list(user_actions or [])
        self.action_sink = action_sink
        """Where user actions publish (the MQTT surface, when there is one)."""
        self._timer_task: asyncio.Task[None] | None = None
        self._spoken: dict[int, tuple[str, list[str], bool]] = {}

    def apply_settings(self, settings: Mapping[str, Any]) -> None:
        """A new system prompt, or another brain (``llm.backend``), from the next turn on."""
        self.prompt = str(settings.get("llm.system_prompt", self.prompt))
        self.backend_choice = str(settings.get("llm.backend", self.backend_choice))

    def messages_for(self, text: str) -> list[Message]:
        prompt = system_prompt(leading_prompt(self.prompt, self.persona), self.clock() if self.clock else None)
        if self.conversation is not None:
            return self.conversation.messages(prompt, text, self.monotonic())
        return [{"role": "system", "content": prompt}, {"role": "user", "content": text}]

    async def setup(self, events: ev.EventBus) -> None:
        await super().setup(events)
        events.listen(self._on_event)
        if self.intents is not None:
            self._timer_task = asyncio.create_task(self._run_timers())

    async def cleanup(self) -> None:
        if self._timer_task is not None:
            self._timer_task.cancel()
        await super().cleanup()

    async def process_frame(self, frame: DataFrame) -> None:
        if not isinstance(frame, TranscriptionFrame):
            await self.push_frame(frame)
            return
        await self.answer(frame.turn, frame.text)

    async def answer(self, turn: int, text: str) -> str:
        if self.intents is not None and (action := match_action(text, self.user_actions)) is not None:
            return await self._answer_user_action(turn, action)
        if self.intents is not None and (intent := intents_mod.match(text)) is not None:
            return await self._answer_intent(turn, text, intent)
        if (request := unhandled.match(text)) is not None:
            return await self._answer_unhandled(turn, request)
        started = time.perf_counter()
        ttft_ms: float | None = None
        parts: list[str] = []

        def publish_reply(backend_name: str, interrupted: bool = False) -> str:
            outcome = self.backend.last if isinstance(self.backend, Router) else None
            reply = "".join(parts).strip()
            self.events.publish(Reply(
                turn=turn, text=reply,
                backend=backend_name or (outcome.backend if outcome and outcome.backend else "none"),
                fallback_reason=outcome.fallback_reason if outcome else None,
                llm_ttft_ms=round(ttft_ms, 1) if ttft_ms is not None else None,
                llm_ms=round((time.perf_counter() - started) * 1000, 1), pieces=len(parts), interrupted=interrupted,
            ))
            return reply

        await self.push_frame(LLMResponseStartFrame(turn))
        messages = self.messages_for(text)
        try:
            async for piece in self._stream(messages):
                if ttft_ms is None:
                    ttft_ms = (time.perf_counter() - started) * 1000
                parts.append(piece)
                await self.push_frame(LLMTextFrame(turn, piece))
            outcome: Outcome | None = self.backend.last if isinstance(self.backend, Router) else None
            backend_name = outcome.backend if outcome and outcome.backend else self.backend.name
            if outcome is not None and outcome.tool_calls:
                for said in await self._run_tool_calls(turn, outcome.tool_calls):
                    said = (" " if parts else "") + said
                    parts.append(said)
                    await self.push_frame(LLMTextFrame(turn, said))
            if outcome is not None and outcome.error is not None:
                self.report_error(f"{outcome.error.reason}: {outcome.error}", turn=turn)
                if not parts:
                    parts.append(APOLOGY)
                    backend_name = "none"
                    await self.push_frame(LLMTextFrame(turn, APOLOGY))
        except asyncio.CancelledError:
            # Cut while the reply was being written (a wake word, a stop): the reply event still
            # says what was produced, and that it was cut. Which brain it was, the router knows
            # once a sentence was released.
            local = None if isinstance(self.backend, Router) else self.backend.name
            publish_reply(local or "", interrupted=True)
            raise
        reply = publish_reply(backend_name)
        await self.push_frame(LLMResponseEndFrame(turn, reply))
        await self._remember(turn, text, reply)
        return reply

    async def _answer_intent(self, turn: int, text: str, intent: intents_mod.Intent) -> str:
        assert self.intents is not None
        now = self.clock() if self.clock else dt.datetime.now().astimezone()
        result = self.intents.handle(intent, now, self.monotonic())
        self.events.publish(IntentHandled(turn=turn, name=intent.name, seconds=intent.slots.get("seconds"),
                                          level=intent.slots.get("level"), timers=len(self.intents.timers.timers)))
        if result.action is not None and self.on_action is not None:
            try:
                self.on_action(result.action)
            except Exception as exc:  # a failed device action must not end the turn
                self.report_error(f"intent {intent.name}: {exc}", turn=turn)
        return await self._say_instant(turn, result.text, intent.name)

    async def _run_tool_calls(self, turn: int, calls: list[ToolCall]) -> list[str]:
        """Carry out a model's tool calls like instant intents; what to say for each.

        The tool's own reply is spoken (no second round trip to the model):
        it is the same sentence the instant intent would say.
        """
        said: list[str] = []
        for call in calls:
            if self.intents is None:
                self.report_error(f"tool {call.name}: intents are disabled (intents.enabled)", turn=turn)
                said.append(SORRY)
                continue
            now = self.clock() if self.clock else dt.datetime.now().astimezone()
            result = run_tool(self.intents, call.name, call.arguments, now, self.monotonic())
            if result.error is not None:
                self.report_error(f"tool call refused: {result.error}", turn=turn)
            else:
                self.events.publish(IntentHandled(turn=turn, name=call.name, via="tool", arguments=call.arguments))
            if result.action is not None and self.on_action is not None:
                try:
                    self.on_action(result.action)
                except Exception as exc:  # a failed device action must not end the turn
                    self.report_error(f"tool {call.name}: {exc}", turn=turn)
            if result.text:
                said.append(result.text)
        return said

    async def _answer_user_action(self, turn: int, action: UserAction) -> str:
        try:
            text = run_action(action, self.action_sink)
            self.events.publish(IntentHandled(turn=turn, name="user_action", topic=action.topic))
        except Exception as exc:  # no sink, broker down: say so, keep running
            self.report_error(f"action {action.topic}: {exc}", turn=turn)
            text = "Sorry, I could not do that."
        return await self._say_instant(turn, text, "user_action")

    async def _answer_unhandled(self, turn: int, request: unhandled.DeviceRequest) -> str:
        """A device nothing here controls: say so (a small model would invent an answer) and
        publish the request, for an automation (Home Assistant, Node-RED) to carry out."""
        self.events.publish(Unhandled(turn=turn, text=request.text, what=request.what, how=request.how))
        return await self._say_instant(turn, request.reply, "unhandled")

    async def _say_instant(self, turn: int, text: str, intent: str) -> str:
        await self.push_frame(LLMResponseStartFrame(turn))
        if text:
            await self.push_frame(LLMTextFrame(turn, text))
        self.events.publish(Reply(turn=turn, text=text, backend="intent", fallback_reason=None,
                                  llm_ttft_ms=None, llm_ms=0.0, pieces=1 if text else 0, intent=intent))
        await self.push_frame(LLMResponseEndFrame(turn, text))
        return text

    async def _run_timers(self) -> None:
        """Announce finished timers (spoken like ``say``, and evented)."""
        assert self.intents is not None
        while True:
            await asyncio.sleep(TIMER_TICK)
            for timer in self.intents.timers.pop_due(self.monotonic()):
                turn = next_turn_id()
                text = intents_mod.announcement(timer.label)
                self.events.publish(TimerFinished(turn=turn, timer=timer.id, label=timer.label, text=text,
                                                  timers=len(self.intents.timers.timers)))
                self.deliver(TTSSpeakFrame(turn, text, last=True))

    # ------------------------------------------------------------- context
    async def _remember(self, turn: int, text: str, reply: str) -> None:
        conv = self.conversation
        if conv is None:
            return
        conv.add(text, reply, self.monotonic())
        splitter = SentenceSplitter()
        self._spoken = {turn: (text, splitter.push(reply) + splitter.flush(), False)}
        if conv.pending:
            def summarize(history: str) -> str:
                msgs = [{"role": "system", "content": SUMMARY_PROMPT}, {"role": "user", "content": history}]
                return "".join(self.backend.stream(msgs, threading.Event()))
            await self.run_blocking(conv.summarize_pending, summarize)

    def _on_event(self, e: ev.Event) -> None:
        """Trim an interrupted reply in the history to what was heard."""
        body = e.body
        if not isinstance(body, (AudioStarted, AudioStopped)):
            return
        turn = body.turn
        if turn not in self._spoken or self.conversation is None:
            return
        user, sentences, heard = self._spoken[turn]
        if isinstance(body, AudioStarted):
            self._spoken[turn] = (user, sentences, True)
        else:
            del self._spoken[turn]
            if body.interrupted and self.conversation.exchanges:
                last = self.conversation.exchanges[-1]
                if last.user == user.strip():
                    heard_text = body.heard_text
                    if not isinstance(heard_text, str):
                        # An output that cannot tell: audio started, so the first sentence was
                        # (at least partly) heard.
                        heard_text = spoken_part(sentences, 1 if heard else 0)
                    last.assistant = (heard_text + " (interrupted)").strip()

    async def _stream(self, messages: list[Message]) -> AsyncIterator[str]:
        """Run the backend in the worker thread, hand pieces to the loop as they come."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[streaming.Item] = asyncio.Queue()
        cancel = threading.Event()

        def stream() -> Iterator[str]:
            if isinstance(self.backend, Router):
                policy = policy_for(self.backend_choice, self.backend.policy)
                return self.backend.stream(messages, cancel, policy=policy)
            return self.backend.stream(messages, cancel)

        def hand_over(item: streaming.Item) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, item)

        def work() -> None:
            streaming.pump(stream, cancel, hand_over)

        job = asyncio.ensure_future(self.run_blocking(work))
        try:
            while True:
                kind, value = await queue.get()
                if kind == streaming.PIECE:
                    yield str(value)
                elif kind == streaming.ERROR:
                    assert isinstance(value, BaseException)
                    raise value
                else:
                    break
            await job
        finally:
            cancel.set()  # an interruption stops generation in the worker too

