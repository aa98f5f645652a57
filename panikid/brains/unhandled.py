"""Requests panikid cannot carry out itself (pure matcher).

"Turn on the kitchen lights", "lock the front door", "set the thermostat to
20", "call my mum", "what's the weather like tomorrow": a small language model
asked such a thing invents an answer ("I'm sorry for your loss.", "The weather
is quite pleasant"). When no instant intent and no configured action
(``intents.actions``) handles such a request, the honest answer is that
nothing here can, and the request is published as an ``unhandled`` event,
which a Home Assistant or Node-RED automation can carry out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .intents import normalize

_DEVICES = (
    r"lights?|lamps?|bulbs?|leds?|door|doors|lock|locks|garage|gate|windows?|blinds?|shutters?|curtains?|"
    r"heating|heater|thermostat|air ?con(?:ditioning|ditioner)?|ac|a c|fan|fans|radiator|boiler|"
    r"tv|television|telly|radio|speaker|stereo|music|song|playlist|podcast|kettle|oven|stove|coffee machine|"
    r"dishwasher|washing machine|washer|dryer|vacuum|hoover|robot|sprinklers?|alarm system|camera|cameras|"
    r"plug|socket|switch|outlet|computer|printer|car|wi-?fi|router"
)
_OBJECT = rf"(?:the |my |our |all the |all |a |some )?(?P<what>(?:[\w'-]+ ){{0,3}}?(?:{_DEVICES}))"
_PATTERNS = [
    # turn / switch on|off the X, turn / switch the X on|off
    re.compile(rf"\b(?:turn|switch|shut|flip) (?P<how>on|off|up|down) {_OBJECT}\b"),
    re.compile(rf"\b(?:turn|switch|shut|flip) {_OBJECT} (?P<how>on|off|up|down)\b"),
    # lock, open, dim ... the X
    re.compile(rf"\b(?P<how>lock|unlock|open|close|shut|dim|brighten|start|stop|pause|resume|arm|disarm|"
               rf"raise|lower|run|play) {_OBJECT}\b"),
    # set the thermostat / heating / lights to ...
    re.compile(rf"\b(?P<how>set|put|change) {_OBJECT} (?:to|at|on)\b"),
    re.compile(r"\bmake (?:it|the (?:room|house|place)) (?P<how>warmer|cooler|colder|hotter|brighter|darker)\b"
               r"(?P<what>)"),
]
_MEDIA = re.compile(r"\b(music|song|playlist|podcast|radio)\b")
# Services that need the internet, a phone or an account: (pattern, what, the honest reply).
_SERVICES: list[tuple[re.Pattern[str], str, str]] = [
    (re.compile(r"\b(weather|forecast|temperature outside|going to rain|will it rain|is it raining|snow tomorrow)\b"),
     "weather", "Sorry, I can't check the weather."),
    (re.compile(r"\b(news|headlines)\b"), "news", "Sorry, I can't read the news."),
    (re.compile(r"^(please )?(call|phone|ring|dial|facetime|video call) "), "call", "Sorry, I can't make calls."),
    (re.compile(r"\b(send|text|message|email|e-mail|write) (a |an )?(message|text|email|e-mail|note)?\b.*\bto\b|"
                r"^(please )?(text|message|email) "), "message", "Sorry, I can't send messages."),
    (re.compile(r"\b(add|put) .+ (to|on) (my |the )?(shopping|grocery|to ?do|todo) ?list\b|"
                r"\b(shopping|grocery|to ?do) list\b"), "list", "Sorry, I can't keep lists."),
    (re.compile(r"^(please )?remind me\b(?!.*\bin \w+ (seconds?|minutes?|hours?)\b)"), "reminder",
     "Sorry, I can't set reminders; I can set a timer."),
]


@dataclass(frozen=True)
class DeviceRequest:
    """A request to operate something: what (``the kitchen lights``) and how (``on``)."""

    what: str
    how: str
    text: str
    answer: str = ""
    """The reply when it is not a device (a service panikid does not have)."""

    @property
    def reply(self) -> str:
        if self.answer:
            return self.answer
        if self.how == "play" or _MEDIA.search(self.what):
            return "Sorry, I can't play music or radio myself."
        thing = f"the {self.what}" if self.what else "that"
        return f"Sorry, I can't control {thing} myself."


def match(text: str) -> DeviceRequest | None:
    """The device request in ``text``, or None (questions and chit-chat are not matched)."""
    norm = normalize(text)
    for pattern, what, answer in _SERVICES:
        if pattern.search(norm):
            return DeviceRequest(what, "service", text.strip(), answer)
    if re.match(r"^(how|what|why|when|where|who|which|is|are|do|does|did|can you tell|tell me about)\b", norm):
        # "How do I turn on the heating?" asks for knowledge, not an action.
        if not re.match(r"^can you (please )?(turn|switch|lock|unlock|open|close|dim|set|play|start|stop)\b", norm):
            return None
    for pattern in _PATTERNS:
        m = pattern.search(norm)
        if m is not None:
            what = (m.groupdict().get("what") or "").strip()
            what = re.sub(r"^(the|my|our|all the|all|a|some) ", "", what)
            return DeviceRequest(what, m.group("how"), text.strip())
    return None
