"""Random bad payloads for every command surface, each with the words its error must contain.

Every payload is invalid by construction (one defect in an otherwise plausible
command), so the daemon must answer each with an error naming that defect and
do nothing else. ``payloads(rng, n)`` draws them from a seeded ``random.Random``,
so a failure reproduces from its seed. Surfaces: ``mqtt`` (every command topic,
short text or JSON), ``hermes`` (tts/say, hotword toggleOn/Off), ``ws`` (JSON
text or binary messages, each answered by an ack) and ``ws-close`` (frames the
WebSocket protocol itself refuses: invalid UTF-8, unmasked, too large; the
connection is closed with ``expect`` as its close code). The expected words
are written here from the rules (README, Commands), not taken from the code.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass

FIELDS = {"mute": {"muted": True}, "listen": {}, "stop": {}, "say": {"text": "Hello there."},
          "ask": {"text": "What time is it?"}, "volume": {"volume": 40}, "wake_sensitivity": {"level": "high"},
          "llm_backend": {"backend": "local"}}
TOPICS = {"mute": "mute/set", "listen": "listen", "stop": "stop", "say": "say", "ask": "ask",
          "volume": "volume/set", "wake_sensitivity": "wake_sensitivity/set", "llm_backend": "llm_backend/set"}
HERMES = ["hermes/tts/say", "hermes/hotword/toggleOn", "hermes/hotword/toggleOff"]
PLAIN = "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789 .,;:!?'-()" \
    "éüßçñ日本語中文한국어عربيעברית😀🙂👍€£"
CONTROLS = [chr(c) for c in [*range(0, 9), 11, 12, *range(14, 32), 127, *range(0x80, 0xA0)]]
SURROGATES = [0xD800, 0xDBFF, 0xDC00, 0xDFFF, 0xD83D]
INVALID_UTF8 = [b"\xff", b"\xfe", b"\x80", b"\xc0\x80", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\xe6\x97"]
BAD_NUMBERS = ["1_0", "\uff14\uff10", "\u0664\u0660", "\u096a\u0966", "1e2", "1E2", "inf", "-inf", "nan", "NaN",
               "0x10", "4.4.4", "--5", "5-", "1,5", "+", "-", ".", " ", "½", "4 0", "40%", "four",
               "101", "-1", "250", "1000000", "100.5", "-0.5"]
NUMBER = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)")  # the README's grammar: digits, a sign, one dot


@dataclass(frozen=True)
class Payload:
    surface: str  # mqtt, hermes, ws, ws-close
    topic: str  # the MQTT topic (under the device's base for commands); ws: text or binary; ws-close: the kind
    data: bytes
    expect: str  # words of the error (for ws-close: the close code)


def _text(rng: random.Random, n: int) -> str:
    return "a" + "".join(rng.choice(PLAIN) for _ in range(max(0, n - 2))) + "z"  # never blank at its ends


def _inside(rng: random.Random, text: str, bad: str) -> str:
    """``bad`` somewhere inside ``text`` (not at an end, where stripping would remove a space-like one)."""
    i = rng.randrange(1, len(text))
    return text[:i] + bad + text[i:]


def _json(obj: object) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode("utf-8")


def _surrogate_string(rng: random.Random) -> str:
    """A JSON string literal holding a lone surrogate (only a JSON escape can carry one)."""
    text = _text(rng, rng.randrange(2, 60))
    i = rng.randrange(1, len(text))
    return json.dumps(text[:i], ensure_ascii=False)[:-1] + f"\\u{rng.choice(SURROGATES):04x}" + \
        json.dumps(text[i:], ensure_ascii=False)[1:]


def _command_json(rng: random.Random, name: str, ws: bool) -> tuple[bytes, str]:
    """A JSON command with one defect in its frame (any command)."""
    base = {"command": name, **FIELDS[name]}
    kind = rng.randrange(6 if ws else 5)
    if kind == 0:  # cut short (ASCII only, so the cut is never inside a character)
        full = _json({**base, "id": rng.randrange(10**6)})
        return full[: rng.randrange(1, len(full) - 1)], "not valid JSON"
    if kind == 1:
        depth = rng.randrange(9, 1900)
        return _json(base)[:-1] + b', "x": ' + b"[" * depth + b"]" * depth + b"}", "nests deeper than 8 levels"
    if kind == 2:
        key = rng.choice(["speed", "voice", "x", "Text", "commands", "ID", "Volume"])
        return _json({**base, key: rng.choice([1, "a", None, [1], {"a": 1}])}), "unknown field"
    if kind == 3:
        return _json({**base, "command": rng.choice(["reboot", "dance", "Mute", "SAY", "", " stop", "volume/set"])}), \
            "unknown command"
    if kind == 4:
        return _json({**base, "id": rng.choice([[1], {"a": 1}, True, 1.5, "x" * 101, "a\u0085b", "b\x00"])}), \
            "id: expected"
    if rng.random() < 0.5:  # not JSON objects: only the WebSocket reads every message as JSON
        return _json(rng.choice([[base], "say", 5, None, True])), "a command must be a JSON object"
    return _json({k: v for k, v in base.items() if k != "command"} or {"text": "hi"}), '"command" field'


def _field_defect(rng: random.Random, name: str) -> tuple[bytes, str] | None:
    """A JSON command with one of its own fields wrong (the commands that have fields)."""
    if name in ("say", "ask"):
        pick = rng.randrange(5)
        if pick == 0:
            return f'{{"command": "{name}", "text": {_surrogate_string(rng)}}}'.encode(), "lone surrogate"
        if pick == 1:
            bad = rng.choice(CONTROLS)
            return _json({"command": name, "text": _inside(rng, _text(rng, 20), bad)}), \
                f"a control character (U+{ord(bad):04X}"
        if pick == 2:
            return _json({"command": name, "text": rng.choice([5, None, True, ["hi"], {"t": 1}])}), \
                "expected a string"
        if pick == 3:
            return _json({"command": name, "text": " " * rng.randrange(0, 5)}), "the text is empty"
        return _json({"command": name, "text": "a" * rng.randrange(1001, 3000)}), "at most 1000"
    if name == "volume":
        value = rng.choice(['"40"', "true", "null", "[40]", "101", "-1", "100.01", "1e300", "NaN", "1e400",
                            "Infinity", "-Infinity", '{"v": 1}'])
        return f'{{"command": "volume", "volume": {value}}}'.encode(), "volume.volume: expected a number from 0 to 100"
    if name == "mute":
        return _json({"command": "mute", "muted": rng.choice(["yes", 1, None, "true", 0])}), "mute.muted"
    if name in ("wake_sensitivity", "llm_backend"):
        key = "level" if name == "wake_sensitivity" else "backend"
        return _json({"command": name, key: rng.choice(["max", "gpt", 3, None, "auto auto", "lowest", ""])}), \
            "allowed:"
    return None


def _short(rng: random.Random, name: str) -> tuple[bytes, str] | None:
    """An MQTT short payload (not JSON) that is wrong for its topic; listen and stop take any text."""
    if name in ("say", "ask"):
        if rng.random() < 0.8:
            bad = rng.choice(CONTROLS)
            text = _inside(rng, _text(rng, rng.randrange(2, 80)), bad)
            return text.encode(), f"a control character (U+{ord(bad):04X}"
        return b"b" * rng.randrange(1001, 4000), "at most 1000"
    if name == "volume":
        text = rng.choice(BAD_NUMBERS)
        grammatical = NUMBER.fullmatch(text.strip())  # then it is out of range
        return text.encode(), "volume.volume: expected a number from 0 to 100" if grammatical \
            else "(digits, an optional sign and dot)"
    if name == "mute":
        return rng.choice(["maybe", "yes", "2", "ONN", "of", "mutee", "0n"]).encode(), "allowed: ON, OFF"
    if name in ("wake_sensitivity", "llm_backend"):
        return rng.choice(["max", "gpt", "3", "lowest", "loww", "cloudy", "hi gh"]).encode(), "allowed:"
    return None


def _any_topic(rng: random.Random) -> tuple[bytes, str]:
    """Defects every command topic refuses alike: not UTF-8, too large, broken JSON."""
    kind = rng.randrange(3)
    if kind == 0:
        raw = _text(rng, rng.randrange(2, 30)).encode()
        i = rng.randrange(len(raw) + 1)
        return raw[:i] + rng.choice(INVALID_UTF8) + raw[i:], "not valid UTF-8"
    if kind == 1:
        return (b"{" if rng.random() < 0.5 else b"") + b"y" * rng.choice([4097, 5000, 20000, 300_000]), \
            "at most 4096"
    return b"{" + _text(rng, rng.randrange(2, 40)).encode(), "not valid JSON"


def mqtt_payload(rng: random.Random) -> Payload:
    name = rng.choice(list(FIELDS))
    roll = rng.random()
    got = _short(rng, name) if roll < 0.3 else _field_defect(rng, name) if roll < 0.55 else \
        _command_json(rng, name, ws=False) if roll < 0.8 else None
    return Payload("mqtt", TOPICS[name], *(got or _any_topic(rng)))


def hermes_payload(rng: random.Random) -> Payload:
    topic = rng.choice(HERMES)
    kind = rng.randrange(7 if topic == HERMES[0] else 3)  # a well-formed toggle is a command: not sent
    if kind == 0:
        data, words = _any_topic(rng)
        return Payload("hermes", topic, data, {"at most 4096": "at most 4096 allowed",
                                               "not valid JSON": "is not valid JSON"}.get(words, words))
    if kind == 1:
        depth = rng.randrange(9, 1500)
        return Payload("hermes", topic, b'{"siteId": "default", "x": ' + b"[" * depth + b"]" * depth + b"}",
                       "nests deeper than 8 levels")
    if kind == 2:
        return Payload("hermes", topic, _json(rng.choice([[1], "say", 5, None, [{"text": "hi"}]])),
                       "expected a JSON object")
    if kind == 3:
        return Payload("hermes", topic, _json({"text": rng.choice(["", "  ", 5, None, ["a"]])}),
                       "'text' must be a non-empty string")
    if kind == 4:
        return Payload("hermes", topic, f'{{"text": {_surrogate_string(rng)}, "siteId": "default"}}'.encode(),
                       "lone surrogate")
    if kind == 5:
        return Payload("hermes", topic, _json({"text": "c" * rng.randrange(1001, 3000)}), "at most 1000")
    bad = rng.choice(CONTROLS)
    return Payload("hermes", topic, _json({"text": _inside(rng, _text(rng, 30), bad)}),
                   f"a control character (U+{ord(bad):04X}")


def ws_payload(rng: random.Random) -> Payload:
    roll = rng.random()
    if roll < 0.1:
        return Payload("ws", "binary", rng.randbytes(rng.randrange(1, 300)), "binary messages are not accepted")
    if roll < 0.12:
        kind, code, data = rng.choice([("utf8", "1007", b'{"command": "say", "text": "\xff\xfe"}'),
                                       ("unmasked", "1002", b'{"command": "volume", "volume": 10}'),
                                       ("huge", "1009", b'{"command": "say", "text": "' + b"z" * 9000 + b'"}')])
        return Payload("ws-close", kind, data, code)
    name = rng.choice(list(FIELDS))
    got = _field_defect(rng, name) if roll < 0.6 else None
    return Payload("ws", "text", *(got or _command_json(rng, name, ws=True)))


def payloads(rng: random.Random, n: int) -> list[Payload]:
    """``n`` payloads: about 45 % MQTT command topics, 15 % Hermes, 40 % WebSocket."""
    out = []
    for _ in range(n):
        roll = rng.random()
        out.append(mqtt_payload(rng) if roll < 0.45 else hermes_payload(rng) if roll < 0.6 else ws_payload(rng))
    return out
