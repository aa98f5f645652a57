"""Pure parts of the brains: circuit breaker, intents, timers, conversation context, secrets."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from panikid import secrets
from panikid.brains.breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker
from panikid.brains.context import Conversation, estimate_tokens, spoken_part
from panikid.brains.intents import IntentHandler, match
from panikid.brains.router import order_for
from panikid.brains.timers import TimerTable, describe_duration

# ----------------------------------------------------------------------------- breaker


def test_breaker_opens_after_n_failures_and_probes_after_cooldown() -> None:
    b = CircuitBreaker(failure_threshold=3, cooldown_seconds=10)
    for t in (0, 1):
        assert b.allow(t)
        b.record_failure(t)
    assert b.state == CLOSED
    b.record_failure(2)
    assert b.state == OPEN and not b.allow(5) and not b.allow(11.9)
    assert b.allow(12) and b.state == HALF_OPEN  # one probe
    assert not b.allow(12.1)  # no second probe while the first runs
    b.record_failure(13)
    assert b.state == OPEN and not b.allow(20)
    assert b.allow(23)
    b.record_success(23.5)
    assert b.state == CLOSED and b.failures == 0 and b.allow(24)


def test_breaker_success_resets_the_failure_count() -> None:
    b = CircuitBreaker(failure_threshold=2, cooldown_seconds=5)
    b.record_failure(0)
    b.record_success(1)
    b.record_failure(2)
    assert b.state == CLOSED


def test_breaker_a_cancelled_probe_was_the_one_probe_of_its_cool_down() -> None:
    b = CircuitBreaker(failure_threshold=1, cooldown_seconds=5)
    b.record_failure(0)
    assert b.allow(5)
    b.release(6)
    assert b.state == OPEN and not b.allow(6.1) and not b.allow(10.9)
    assert b.allow(11) and b.state == HALF_OPEN


def test_breaker_available_asks_without_using_the_probe() -> None:
    b = CircuitBreaker(failure_threshold=2, cooldown_seconds=5)
    b.record_failure(0, count=2)  # a failure that counts as the whole threshold
    assert b.state == OPEN and not b.available(4.9)
    assert b.available(5) and b.available(5) and b.state == OPEN  # asking changes nothing
    assert b.allow(5) and not b.available(5.1) and not b.allow(5.1)
    assert b.allow(0, force=False) is False
    c = CircuitBreaker(failure_threshold=1, cooldown_seconds=5)
    c.record_failure(0)
    assert c.allow(1, force=True) and c.state == HALF_OPEN  # tried anyway: it is the probe
    c.record_success(2)
    assert c.state == CLOSED


def test_policies_order_the_providers() -> None:
    assert order_for("local-first", "local", "cloud") == ["local", "cloud"]
    assert order_for("cloud-first", "local", "cloud") == ["cloud", "local"]
    assert order_for("local-only", "local", "cloud") == ["local"]
    assert order_for("cloud-only", "local", "cloud") == ["cloud"]
    assert order_for("local-first", "local", None) == ["local"]
    with pytest.raises(ValueError, match="router.policy"):
        order_for("random", "local", "cloud")


# ----------------------------------------------------------------------------- intents


@pytest.mark.parametrize("text,seconds", [
    ("Set a timer for five seconds.", 5), ("set a timer for 5 seconds", 5),
    ("Timer for twenty-five minutes", 1500), ("start a 10 minute timer", 600),
    ("set a timer for 1 hour and 30 minutes", 5400), ("Set a timer for a minute.", 60),
])
def test_timer_phrases(text: str, seconds: float) -> None:
    intent = match(text)
    assert intent is not None and intent.name == "timer_set" and intent.slots["seconds"] == seconds


@pytest.mark.parametrize("text,name", [
    ("What time is it?", "time"), ("what's the time", "time"), ("What is the date today?", "date"),
    ("What's the date?", "date"), ("What day is it?", "date"), ("Cancel the timer.", "timer_cancel"),
    ("How much time is left?", "timer_list"), ("Volume up", "volume_up"), ("Turn it down.", "volume_down"),
    ("Set the volume to 40 percent", "volume_set"), ("Stop.", "stop"), ("Mute", "mute"),
    ("Tell me a story about the time machine", None), ("What is the capital of France?", None),
])
def test_intent_names(text: str, name: str | None) -> None:
    got = match(text)
    assert (got.name if got else None) == name


def test_time_and_date_use_the_clock() -> None:
    h = IntentHandler()
    now = dt.datetime(2026, 3, 5, 14, 7)
    assert h.handle(match("what time is it"), now, 0).text == "It is 2:07 PM."  # type: ignore[arg-type]
    assert h.handle(match("what's the date"), now, 0).text == "Today is Thursday, March 5, 2026."  # type: ignore[arg-type]


def test_volume_set_level() -> None:
    assert match("set the volume to 40 percent").slots["level"] == pytest.approx(0.4)  # type: ignore[union-attr]
    assert match("volume to 5").slots["level"] == pytest.approx(0.5)  # type: ignore[union-attr]


def test_timers_set_list_cancel_and_fire() -> None:
    h = IntentHandler(TimerTable(max_timers=2))
    now = dt.datetime(2026, 1, 1)
    assert h.handle(match("set a timer for 5 seconds"), now, 100).text == "Timer set for 5 seconds."  # type: ignore[arg-type]
    assert "3 seconds left on the 5 seconds timer" in h.handle(match("how much time is left"), now, 102).text  # type: ignore[arg-type]
    assert h.timers.pop_due(104.9) == []
    (done,) = h.timers.pop_due(105)
    assert done.label == "5 seconds"
    h.handle(match("set a timer for 2 minutes"), now, 0)  # type: ignore[arg-type]
    assert h.handle(match("cancel the timer"), now, 1).text == "Timer cancelled."  # type: ignore[arg-type]
    assert h.timers.timers == []
    assert describe_duration(5400) == "1 hour and 30 minutes"


# ----------------------------------------------------------------------------- context


def test_follow_up_question_carries_the_first_turn() -> None:
    c = Conversation(max_tokens=500)
    c.add("Who wrote Hamlet?", "William Shakespeare wrote Hamlet.", now=0)
    msgs = c.messages("sys", "When was he born?", now=10)
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user"]
    assert msgs[1]["content"] == "Who wrote Hamlet?" and "Shakespeare" in msgs[2]["content"]


def test_token_budget_drops_oldest_turns() -> None:
    c = Conversation(max_tokens=40, max_turns=100)
    for i in range(10):
        c.add(f"question number {i} " + "x" * 40, f"answer {i} " + "y" * 40, now=i)
    used = sum(estimate_tokens(e.user) + estimate_tokens(e.assistant) for e in c.exchanges)
    assert used <= 40 and c.exchanges and c.exchanges[-1].user.startswith("question number 9")
    assert all(not e.user.startswith("question number 0") for e in c.exchanges)


def test_a_full_window_is_halved_so_the_prompt_prefix_stays_put() -> None:
    c = Conversation(max_tokens=10000, max_turns=8)
    for i in range(1, 9):
        c.add(f"q{i}", f"a{i}", now=i)
    assert [e.user for e in c.exchanges] == [f"q{i}" for i in range(1, 9)]
    c.add("q9", "a9", now=9)  # over the limit: down to half of it, at once
    assert [e.user for e in c.exchanges] == ["q6", "q7", "q8", "q9"]
    before = c.messages("s", "next", now=10)[:-1]
    for i in range(10, 14):  # the next turns only append: the earlier prompt is a prefix of each new one
        c.add(f"q{i}", f"a{i}", now=i)
        assert c.messages("s", "next", now=i)[: len(before)] == before
    assert len(c.exchanges) == 8
    one = Conversation(max_tokens=5, max_turns=8)
    one.add("a question far longer than the budget", "and an answer as long", now=0)
    assert one.exchanges == []  # a single pair over the budget is not kept
    one.add("hi", "hello", now=1)
    assert [e.user for e in one.exchanges] == ["hi"]


def test_idle_timeout_resets_the_conversation() -> None:
    c = Conversation(idle_reset_seconds=60)
    c.add("hi", "hello", now=0)
    assert len(c.messages("s", "again", now=59)) == 4
    assert len(c.messages("s", "again", now=61)) == 2


def test_summarize_strategy_condenses_dropped_turns() -> None:
    c = Conversation(max_tokens=1000, max_turns=1, strategy="summarize")
    c.add("My name is Ada.", "Nice to meet you, Ada.", now=0)
    c.add("What is two plus two?", "Four.", now=1)
    seen: list[str] = []
    c.summarize_pending(lambda text: seen.append(text) or "The user is called Ada.")
    assert "My name is Ada." in seen[0]
    msgs = c.messages("s", "What's my name?", now=2)
    assert "Ada" in msgs[1]["content"] and msgs[1]["role"] == "system"


def test_spoken_part_keeps_finished_sentences() -> None:
    assert spoken_part(["One.", "Two.", "Three."], 2) == "One. Two."
    assert spoken_part(["One."], 0) == ""


# ----------------------------------------------------------------------------- secrets


def test_api_key_sources(tmp_path: Path) -> None:
    assert secrets.api_key("openai", environ={"OPENAI_API_KEY": "a"}) == "a"
    assert secrets.api_key("openai", environ={"OPENAI_API_KEY": "a", "PANIKID_CLOUD_API_KEY": "b"}) == "b"
    assert secrets.api_key("openai", "MY_KEY", environ={"MY_KEY": "c", "PANIKID_CLOUD_API_KEY": "b"}) == "c"
    assert secrets.api_key("gemini", environ={"GOOGLE_API_KEY": "g"}) == "g"
    creds = {"CREDENTIALS_DIRECTORY": str(tmp_path)}
    # As the shipped unit hands them over: LoadCredential=secrets:/etc/panikid/credentials.
    (tmp_path / "secrets_anthropic_api_key").write_text("from-systemd\n")
    assert secrets.api_key("anthropic", environ=creds) == "from-systemd"
    (tmp_path / "my-key").write_text("named\n")
    assert secrets.api_key("openai", credential="my-key", environ=creds) == "named"
    assert secrets.api_key("openai", environ=creds) is None
    assert secrets.api_key("anthropic", environ={}) is None
