"""Requests to operate something nothing here controls: matched, answered honestly, never invented."""

from __future__ import annotations

import pytest

from panikid.brains import intents, unhandled

DEVICE_REQUESTS = [
    ("Turn on the kitchen lights.", "kitchen lights"),
    ("turn the living room lamp off", "living room lamp"),
    ("Switch off all the lights", "lights"),
    ("Lock the door.", "door"),
    ("Please unlock the front door", "front door"),
    ("Open the garage", "garage"),
    ("Close the blinds in the bedroom", "blinds"),
    ("Set the thermostat to twenty degrees", "thermostat"),
    ("Dim the lights", "lights"),
    ("Start the dishwasher", "dishwasher"),
    ("Can you turn on the TV?", "tv"),
    ("Make it warmer", ""),
    ("Play some music", "music"),
    ("Turn the heating up", "heating"),
]
NOT_DEVICE_REQUESTS = [
    "What time is it?", "Set a timer for ten minutes.", "Turn the volume down.", "Tell me a joke.",
    "How do I turn on the heating?", "What is the capital of France?", "Is the door locked?",
    "Let's play a game.", "Who wrote Hamlet?", "Good morning!", "Stop.", "Thank you.",
    "How are you today?", "Volume up.", "Cancel the timer.", "What is a text message?",
]


@pytest.mark.parametrize("text,what", DEVICE_REQUESTS)
def test_device_requests_are_recognised(text: str, what: str) -> None:
    req = unhandled.match(text)
    assert req is not None, text
    assert req.what == what
    assert req.reply.startswith("Sorry, I can't")
    assert "myself" in req.reply


@pytest.mark.parametrize("text", NOT_DEVICE_REQUESTS)
def test_questions_chit_chat_and_instant_commands_are_not(text: str) -> None:
    assert unhandled.match(text) is None or intents.match(text) is not None, text


@pytest.mark.parametrize("text,what", [
    ("What's the weather like tomorrow?", "weather"), ("Will it rain today?", "weather"),
    ("Call my mum.", "call"), ("Send a message to Anna saying I'll be late.", "message"),
    ("Add milk to my shopping list.", "list"), ("Remind me to water the plants tomorrow morning.", "reminder"),
    ("What's in the news?", "news"),
])
def test_services_it_does_not_have_get_an_honest_answer(text: str, what: str) -> None:
    req = unhandled.match(text)
    assert req is not None and req.what == what, (text, req)
    assert req.reply.startswith("Sorry, I can't")


def test_a_reminder_in_some_minutes_is_a_timer_not_refused() -> None:
    assert unhandled.match("Remind me in ten minutes") is None
    assert intents.match("Remind me in ten minutes") is not None


def test_the_answer_names_the_thing() -> None:
    req = unhandled.match("Turn on the kitchen lights.")
    assert req is not None and req.reply == "Sorry, I can't control the kitchen lights myself."
    music = unhandled.match("play some music")
    assert music is not None and "music" in music.reply
