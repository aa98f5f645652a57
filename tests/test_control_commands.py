"""The command schema and handler: round trips, clear errors for bad input, a fuzzed parser."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from panikid.control import schema
from panikid.control.commands import CommandHandler, parse_json, parse_short
from panikid.control.schema import CommandError
from panikid.events import EventBus

EXAMPLES = [
    schema.Mute(True), schema.Mute(False), schema.Listen(), schema.Stop(),
    schema.Say("hello there"), schema.Say("hi", 35.0), schema.Ask("what time is it"),
    schema.SetVolume(0.0), schema.SetVolume(100.0), schema.SetWakeSensitivity("high"),
    schema.SetLlmBackend("cloud"),
]


@pytest.mark.parametrize("cmd", EXAMPLES, ids=lambda c: c.name)
def test_every_command_round_trips_through_dict_and_json(cmd: Any) -> None:
    assert schema.from_dict(cmd.to_dict()) == cmd
    assert parse_json(json.dumps(cmd.to_dict())) == cmd


@pytest.mark.parametrize(("name", "payload", "expected"), [
    ("mute", "ON", schema.Mute(True)), ("mute", "off", schema.Mute(False)),
    ("listen", "PRESS", schema.Listen()), ("stop", "", schema.Stop()),
    ("say", "  good morning ", schema.Say("good morning")),
    ("say", '{"command": "say", "text": "loud", "volume": 80}', schema.Say("loud", 80.0)),
    ("ask", "is it raining", schema.Ask("is it raining")),
    ("volume", "42", schema.SetVolume(42.0)), ("volume", "42.5", schema.SetVolume(42.5)),
    ("wake_sensitivity", "Low", schema.SetWakeSensitivity("low")),
    ("llm_backend", "local", schema.SetLlmBackend("local")),
])
def test_short_mqtt_payloads(name: str, payload: str, expected: Any) -> None:
    assert parse_short(name, payload.encode()) == expected


@pytest.mark.parametrize(("payload", "words"), [
    (b"{not json", "not valid JSON"),
    (b"[1, 2]", "JSON object"),
    (b'{"text": "hi"}', '"command" field'),
    (b'{"command": "dance"}', "unknown command 'dance'"),
    (b'{"command": "volume", "volume": "loud"}', "volume.volume: expected a number"),
    (b'{"command": "volume", "volume": 101}', "from 0 to 100"),
    (b'{"command": "volume", "volume": true}', "expected a number"),
    (b'{"command": "mute", "muted": "yes"}', "mute.muted"),
    (b'{"command": "say", "text": ""}', "say.text: the text is empty"),
    (b'{"command": "say", "text": 5}', "say.text: expected a string"),
    (b'{"command": "ask", "text": "x", "speed": 2}', "unknown field 'speed'"),
    (b'{"command": "llm_backend", "backend": "gpt"}', "allowed: auto, local, cloud"),
    (b'{"command": "wake_sensitivity", "level": 3}', "allowed: low, medium, high"),
    (b"\xff\xfe\x00garbage", "not valid UTF-8"),
    (b'{"command": "say", "text": "' + b"a" * 5000 + b'"}', "at most 4096"),
    (b"[" * 100000, "at most 4096"),
    (b"[" * 2000, "nests deeper than 8 levels"),
    (b'{"command": "ask", "text": "hi", "x": [[[[[[[[[1]]]]]]]]]}', "nests deeper than 8 levels"),
    (b'{"command": "ask", "text": "hi \\ud800 there"}', "ask.text: the text contains a lone surrogate (U+D800"),
    (b'{"command": "ask", "text": "\\udc00"}', "lone surrogate"),
    (b'{"command": "say", "text": "bell\\u0007"}', "a control character (U+0007"),
    (b'{"command": "ask", "text": "x", "id": "a\\ud800"}', "id: expected a string"),
    (b'{"command": "ask", "text": "x", "id": [1]}', "id: expected a string"),
    (b'{"command": "volume", "volume": NaN}', "from 0 to 100"),
    (b'{"command": "volume", "volume": 1e400}', "from 0 to 100"),
    (b'{"command": "volume", "volume": ' + b"1" * 4090 + b"}", "at most 4096"),
])
def test_malformed_json_names_the_problem(payload: bytes, words: str) -> None:
    with pytest.raises(CommandError, match=None) as info:
        parse_json(payload)
    assert words in str(info.value)


@pytest.mark.parametrize(("name", "payload", "words"), [
    ("mute", b"maybe", "allowed: ON, OFF"),
    ("volume", b"eleven", "expected a number"),
    ("volume", b"nan", "from 0 to 100"),
    ("say", b"   ", "empty"),
    ("say", b'{"command": "ask", "text": "x"}', "sent to 'say'"),
    ("reboot", b"", "unknown command 'reboot'"),
    ("ask", b"x" * 1001, "at most 1000"),
    ("say", b"a\x00b", "a control character (U+0000 at position 1)"),
    ("say", b"a\x7fb", "a control character (U+007F"),
    ("ask", "next\x85line".encode(), "a control character (U+0085"),
    ("say", "\x9b2J clear".encode(), "a control character (U+009B"),
    ("say", b'{"command": "say", "text": "hi \\ud800 there"}', "say.text: the text contains a lone surrogate"),
    ("volume", b"1_0", "expected a number"),
    ("volume", "\uff11\uff10".encode(), "expected a number"),  # fullwidth 10
    ("volume", "\u0661\u0660".encode(), "expected a number"),  # Arabic-Indic 10
    ("volume", b"1e2", "expected a number"),
    ("volume", b"inf", "expected a number"),
    ("volume", b"4.4.4", "expected a number"),
    ("volume", b"0x10", "expected a number"),
])
def test_malformed_short_payloads_name_the_problem(name: str, payload: bytes, words: str) -> None:
    with pytest.raises(CommandError) as info:
        parse_short(name, payload)
    assert words in str(info.value)


@pytest.mark.parametrize(("payload", "volume"), [
    (b"-0", 0.0), (b"+40", 40.0), (b"40.", 40.0), (b".5", 0.5), (b" 7 ", 7.0),
    (b'{"command": "volume", "volume": -0.0}', 0.0), (b'{"command": "volume", "volume": -0}', 0.0),
])
def test_numbers_follow_one_grammar_and_minus_zero_is_zero(payload: bytes, volume: float) -> None:
    cmd = parse_short("volume", payload)
    assert cmd == schema.SetVolume(volume) and str(cmd.volume) == str(volume)  # never "-0.0"


def test_text_keeps_tabs_line_breaks_and_any_script() -> None:
    text = "Hello\tworld\nNext line. Grüße, 日本語, عربى, emoji 🙂"
    assert parse_short("say", text.encode()) == schema.Say(text)
    assert schema.load_json('{"a": "[[[[[[[[[[ in a string is not nesting"}')["a"].startswith("[[")


def test_sensitivity_maps_to_thresholds_around_the_base() -> None:
    # The wake word processor applies the level (panikid.speech.wake.detector); the command names the same levels.
    from panikid.speech.wake.detector import SENSITIVITY_OFFSETS, sensitivity_threshold

    assert sensitivity_threshold("medium", 0.5) == 0.5
    assert sensitivity_threshold("high", 0.5) == 0.35
    assert sensitivity_threshold("low", 0.5) == 0.6
    assert sensitivity_threshold("low", 0.97) == 0.99
    assert sensitivity_threshold("high", 0.1) == 0.05
    assert tuple(SENSITIVITY_OFFSETS) == schema.SENSITIVITIES


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
command_like = st.fixed_dictionaries(
    {"command": st.sampled_from([*schema.COMMANDS, "nope"])},
    optional={k: json_values for k in ("muted", "text", "volume", "level", "backend", "id", "x")},
)


def _only_valid_or_command_error(fn: Any, *args: Any) -> None:
    try:
        cmd = fn(*args)
    except CommandError as exc:
        assert str(exc)
        return
    # Anything accepted is a valid command that survives its own round trip.
    assert schema.from_dict(cmd.to_dict()) == cmd


@settings(max_examples=1500, deadline=None)
@given(st.one_of(st.binary(max_size=600), st.text(max_size=300).map(str.encode),
                 json_values.map(lambda v: json.dumps(v).encode()),
                 command_like.map(lambda v: json.dumps(v).encode())))
def test_fuzzed_json_payloads_give_a_command_or_a_command_error(payload: bytes) -> None:
    _only_valid_or_command_error(parse_json, payload)


@settings(max_examples=1500, deadline=None)
@given(st.sampled_from([*schema.COMMANDS, "x"]), st.one_of(st.binary(max_size=300), st.text(max_size=200)))
def test_fuzzed_short_payloads_give_a_command_or_a_command_error(name: str, payload: bytes | str) -> None:
    _only_valid_or_command_error(parse_short, name, payload)


class _Recorder:
    """Stands in for the control API (the Daemon), recording the calls."""

    def __init__(self) -> None:
        self.bus = EventBus()
        self.calls: list[tuple[Any, ...]] = []
        self.running = True

    def mute(self, muted: bool) -> None:
        self.calls.append(("mute", muted))

    def say(self, text: str) -> int:
        self.calls.append(("say", text))
        return 7

    def set_volume(self, v: float) -> None:
        self.calls.append(("volume", v))

    def stop_turn(self) -> None:
        raise RuntimeError("the assistant is not running yet")


def test_handler_dispatches_valid_commands() -> None:
    d = _Recorder()
    h = CommandHandler(d)  # type: ignore[arg-type]
    assert h.handle_short("mute", b"ON", "mqtt") == {"ok": True, "command": "mute"}
    assert h.handle_json(b'{"command": "say", "text": "hi", "volume": 50}', "ws")["turn"] == 7
    assert d.calls == [("mute", True), ("say", "hi"), ("volume", 0.5)]  # queued first, then the volume
    assert d.bus.of_type("error") == []


def test_a_command_takes_effect_or_is_refused_never_both() -> None:
    d = _Recorder()
    d.running = False  # still loading
    h = CommandHandler(d)  # type: ignore[arg-type]
    reply = h.handle_json(b'{"command": "say", "text": "hi", "volume": 50}', "ws")
    assert reply == {"ok": False, "error": "say: the assistant is not running yet"}
    assert d.calls == []  # the volume did not change either
    assert h.handle_short("volume", b"30", "mqtt")["ok"] is True  # a setting applies before the start
    assert d.calls == [("volume", 0.3)]


def test_handler_turns_bad_input_into_one_error_event_and_nothing_else() -> None:
    d = _Recorder()
    h = CommandHandler(d)  # type: ignore[arg-type]
    reply = h.handle_json(b'{"command": "volume", "volume": 300}', "ws")
    assert reply["ok"] is False and "from 0 to 100" in reply["error"]
    errors = d.bus.of_type("error")
    assert len(errors) == 1 and errors[0].data["where"] == "commands"
    assert "from 0 to 100" in errors[0].data["message"] and errors[0].data["source"] == "ws"
    assert d.calls == []
    # A command the daemon cannot carry out is reported the same way.
    assert "not running yet" in h.handle_short("stop", b"", "mqtt")["error"]
    assert h.handle_short("wake_sensitivity", b"high", "mqtt")["ok"] is False
    assert [e.data["where"] for e in d.bus.history] == ["commands"] * 3
