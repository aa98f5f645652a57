"""The event bus: order, isolation of listeners, bounded subscriber queues, JSON lines, closing."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from panikid import events as ev
from panikid.events import Event, EventBus
from panikid.pipeline.testing import run


class FakeClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


def test_events_are_published_in_order_to_listeners_subscribers_and_history() -> None:
    clock = FakeClock()
    bus = EventBus(clock=clock)
    heard: list[str] = []
    bus.listen(lambda e: heard.append(e.type))

    async def scenario() -> list[Event]:
        sub = bus.subscribe()
        for i, kind in enumerate([ev.WAKE, ev.SPEECH_STARTED, ev.SPEECH_STOPPED, ev.TRANSCRIPT]):
            clock.now = 1000.0 + i * 0.5
            bus.publish(kind, n=i)
        return [await sub.get() for _ in range(4)]  # type: ignore[misc]

    received = run(scenario(), 10)
    expected = [ev.WAKE, ev.SPEECH_STARTED, ev.SPEECH_STOPPED, ev.TRANSCRIPT]
    assert heard == expected
    assert [e.type for e in received] == expected
    assert [e.data["n"] for e in received] == [0, 1, 2, 3]
    assert [e.type for e in bus.history] == expected
    # t is seconds since the bus started, from the given clock
    assert [e.t for e in received] == [0.0, 0.5, 1.0, 1.5]


def test_publish_returns_the_event_and_now_counts_from_the_start() -> None:
    clock = FakeClock(50.0)
    bus = EventBus(clock=clock)
    clock.now = 52.25
    assert bus.now() == pytest.approx(2.25)
    event = bus.publish(ev.TRANSCRIPT, text="hello")
    assert event == Event(ev.TRANSCRIPT, 2.25, {"text": "hello"})


def test_a_failing_listener_does_not_break_the_others(caplog: pytest.LogCaptureFixture) -> None:
    bus = EventBus()
    heard: list[str] = []

    def broken(event: Event) -> None:
        raise RuntimeError("listener bug")

    bus.listen(lambda e: heard.append("first " + e.type))
    bus.listen(broken)
    bus.listen(lambda e: heard.append("last " + e.type))

    async def scenario() -> Event | None:
        sub = bus.subscribe()
        with caplog.at_level(logging.ERROR, logger="panikid.events"):
            bus.publish(ev.REPLY, text="hi")
            bus.publish(ev.STATE, state="idle")
        return await sub.get()

    first = run(scenario(), 10)
    assert heard == ["first reply", "last reply", "first state", "last state"]
    assert first is not None and first.type == ev.REPLY
    assert [e.type for e in bus.history] == [ev.REPLY, ev.STATE]
    # The failure is logged (twice: once per event), not swallowed silently.
    failures = [r for r in caplog.records if r.getMessage().startswith("event listener failed")]
    assert [r.getMessage() for r in failures] == [
        "event listener failed on reply",
        "event listener failed on state",
    ]


def test_a_full_subscriber_drops_the_newest_events_and_counts_them() -> None:
    bus = EventBus()

    async def scenario() -> tuple[list[int], int, list[int], int]:
        slow = bus.subscribe(maxsize=2)
        fast = bus.subscribe(maxsize=100)
        for i in range(5):
            bus.publish(ev.STATE, n=i)
        slow_got = [(await slow.get()).data["n"] for _ in range(2)]  # type: ignore[union-attr]
        fast_got = [(await fast.get()).data["n"] for _ in range(5)]  # type: ignore[union-attr]
        return slow_got, slow.dropped, fast_got, fast.dropped

    slow_got, slow_dropped, fast_got, fast_dropped = run(scenario(), 10)
    assert slow_got == [0, 1]
    assert slow_dropped == 3
    assert fast_got == [0, 1, 2, 3, 4]  # one slow consumer does not cost the others anything
    assert fast_dropped == 0


def test_subscribe_refuses_an_unbounded_queue() -> None:
    with pytest.raises(ValueError, match="maxsize"):
        EventBus().subscribe(maxsize=0)


def test_to_json_is_one_line_with_type_and_t_first() -> None:
    event = Event(ev.WAKE, 12.34567, {"model": "okay_nabu", "score": 0.97, "where": "kitchen ☕"})
    line = event.to_json()
    assert "\n" not in line
    decoded = json.loads(line)
    assert decoded == {
        "type": "wake", "t": 12.346, "model": "okay_nabu", "score": 0.97, "where": "kitchen ☕",
    }
    assert list(decoded)[:2] == ["type", "t"]
    assert "☕" in line  # written as is, not escaped


def test_to_json_survives_values_json_does_not_know() -> None:
    class Thing:
        def __str__(self) -> str:
            return "a thing"

    decoded = json.loads(Event(ev.ERROR, 1.0, {"where": "stt", "message": Thing()}).to_json())
    assert decoded["message"] == "a thing"


def test_data_cannot_overwrite_the_event_type_or_time() -> None:
    decoded = json.loads(Event(ev.WAKE, 3.0, {"t": 99.5, "model": "m"}).to_json())
    assert decoded["type"] == "wake" and decoded["t"] == 3.0 and decoded["model"] == "m"


def test_close_wakes_a_waiting_consumer_and_stops_delivery() -> None:
    bus = EventBus()

    async def scenario() -> tuple[Event | None, bool]:
        sub = bus.subscribe()
        waiting = asyncio.create_task(sub.get())
        await asyncio.sleep(0)
        assert not waiting.done()
        sub.close()
        woken = await asyncio.wait_for(waiting, 10)
        bus.publish(ev.STATE, state="idle")  # no longer delivered to the closed subscription
        return woken, sub._queue.empty()

    woken, nothing_after_close = run(scenario(), 10)
    assert woken is None
    assert nothing_after_close


def test_close_on_a_full_queue_still_ends_the_consumer() -> None:
    bus = EventBus()

    async def scenario() -> list[Event | None]:
        sub = bus.subscribe(maxsize=2)
        for i in range(4):
            bus.publish(ev.STATE, n=i)
        sub.close()
        got: list[Event | None] = []
        while True:
            item = await asyncio.wait_for(sub.get(), 10)
            got.append(item)
            if item is None:
                return got

    got = run(scenario(), 10)
    assert got[-1] is None  # the consumer learns that the subscription ended
    assert all(isinstance(e, Event) for e in got[:-1])


def test_history_is_bounded_and_of_type_filters() -> None:
    bus = EventBus()
    bus.history_limit = 10
    for i in range(25):
        bus.publish(ev.WAKE if i % 2 else ev.STATE, n=i)
    assert len(bus.history) == 10
    assert [e.data["n"] for e in bus.history] == list(range(15, 25))
    assert [e.data["n"] for e in bus.of_type(ev.WAKE)] == [15, 17, 19, 21, 23]
