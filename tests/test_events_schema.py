"""The event schema: every type round-trips, bad input is refused by name, and the README, MQTT, the status
page and every publish site in the package agree with it."""

from __future__ import annotations

import ast
import json
import re
import types
import typing
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from panikid.events import Event, EventBus, schema
from panikid.events.schema import EventBody, EventSchemaError

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "panikid"
DEFINITIONS = list(schema.EVENTS.values())

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


def values_of(hint: Any) -> st.SearchStrategy[Any]:
    """Values of a field type, as the daemon could publish them."""
    if hint is Any:
        return json_values
    if hint is type(None):
        return st.none()
    simple = {bool: st.booleans(), int: st.integers(), float: st.floats(allow_nan=False), str: st.text(max_size=40)}
    if hint in simple:
        return simple[hint]
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        return st.one_of(*[values_of(a) for a in args])
    if origin is list:
        return st.lists(values_of(args[0]), max_size=4)
    if origin is dict:
        return st.dictionaries(values_of(args[0]), values_of(args[1]), max_size=4)
    raise AssertionError(f"no strategy for {hint!r}")


def events_of(cls: type[EventBody]) -> st.SearchStrategy[EventBody]:
    return st.builds(cls, **{f.name: values_of(f.hint) for f in cls.fields()})


any_event = st.one_of(*[events_of(cls) for cls in DEFINITIONS])


# ---------------------------------------------------------------- round trips

@pytest.mark.parametrize("cls", DEFINITIONS, ids=lambda c: c.type)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_every_event_type_round_trips_through_dict_json_and_the_bus(cls: type[EventBody], data: st.DataObject) -> None:
    body = data.draw(events_of(cls))
    assert cls.from_dict(body.to_dict()) == body
    assert schema.from_dict(json.loads(json.dumps(body.to_dict()))) == body
    # Through the bus and an --events line: the same event comes back, t aside.
    bus = EventBus(clock=lambda: 5.0)
    event = bus.publish(body)
    assert event.type == cls.type and event.body is body and event.data == body.data()
    line = json.loads(event.to_json())
    assert list(line)[:2] == ["type", "t"]
    assert schema.from_dict(line) == body


@settings(max_examples=300, deadline=None)
@given(any_event)
def test_optional_fields_are_written_only_when_set(body: EventBody) -> None:
    written = body.to_dict()
    for f in body.fields():
        value = getattr(body, f.name)
        if not f.optional:
            assert f.name in written
        else:
            assert (f.name in written) == (value != f.default)
    assert list(written) == ["type", *[f.name for f in body.fields() if f.name in written]]  # in field order


@settings(max_examples=1500, deadline=None)
@given(st.fixed_dictionaries(
    {"type": st.sampled_from([*schema.EVENTS, "nope"])},
    optional={k: json_values for k in ("turn", "text", "model", "score", "interrupted", "state", "t", "x")},
))
def test_fuzzed_dicts_give_an_event_or_a_schema_error(data: dict[str, Any]) -> None:
    try:
        body = schema.from_dict(data)
    except EventSchemaError as exc:
        assert str(exc)
        return
    assert schema.from_dict(body.to_dict()) == body


# ---------------------------------------------------------------- refusals name the type and the field

@pytest.mark.parametrize(("data", "words"), [
    ({"type": "wake", "model": "m", "score": 0.9, "stream_t": 1.0, "colour": "red"},
     "wake: unknown field 'colour', allowed: model, score, stream_t"),
    ({"type": "wake", "model": "m", "score": "high", "stream_t": 1.0}, "wake.score: expected a number, got str"),
    ({"type": "wake", "model": "m", "score": 0.9}, "wake.stream_t: missing (expected a number)"),
    ({"type": "transcript", "turn": True, "text": "hi"}, "transcript.turn: expected an integer, got true"),
    ({"type": "transcript", "turn": 1.5, "text": "hi"}, "transcript.turn: expected an integer, got float"),
    ({"type": "audio_stopped", "turn": 1, "interrupted": 0}, "audio_stopped.interrupted: expected true or false"),
    ({"type": "reply", "turn": 1, "text": "x", "backend": "local", "fallback_reason": 3, "llm_ttft_ms": None,
      "llm_ms": 1.0, "pieces": 1}, "reply.fallback_reason: expected a string or null, got int"),
    ({"type": "ready", "input": "a", "output": "b", "load_seconds": {"stt": "slow"}},
     "ready.load_seconds: expected an object of (a number), got dict"),
    ({"type": "config_reloaded", "source": "x", "applied": {}, "restart_needed": [1], "wake_threshold": None},
     "config_reloaded.restart_needed: expected a list of (a string)"),
    ({"type": "state", "state": "idle", "t": "soon"}, "state.t: expected a number"),
    ({"type": "mute", "muted": True}, "mute: unknown field 'muted', allowed: none"),
    ({"type": "dance"}, "unknown event type 'dance'"),
    ({"state": "idle"}, 'an event needs a "type" field'),
    (["state"], "an event must be a JSON object"),
])
def test_bad_events_are_refused_naming_the_type_and_field(data: Any, words: str) -> None:
    with pytest.raises(EventSchemaError) as info:
        schema.from_dict(data)
    assert words in str(info.value)


def test_a_definition_refuses_data_of_another_type() -> None:
    with pytest.raises(EventSchemaError, match="wake: the data is of type 'reply'"):
        schema.Wake.from_dict({"type": "reply", "model": "m", "score": 1.0, "stream_t": 0.0})


def test_publish_takes_a_definition_or_a_type_and_fields_but_not_both() -> None:
    bus = EventBus()
    with pytest.raises(TypeError, match="go in its definition"):
        bus.publish(schema.AudioStarted(turn=1), turn=2)  # type: ignore[call-overload]
    with pytest.raises(ValueError, match="cannot carry"):
        Event("wake", 1.0, {}, schema.AudioStarted(turn=1))


# ---------------------------------------------------------------- the wire stays as it was

@pytest.mark.parametrize(("body", "line"), [
    (schema.Wake(model="okay_nabu", score=0.97, stream_t=3.2),
     {"type": "wake", "model": "okay_nabu", "score": 0.97, "stream_t": 3.2}),
    (schema.StateChanged(state="idle"), {"type": "state", "state": "idle"}),
    (schema.StateChanged(state="idle", reason="listening timed out"),
     {"type": "state", "state": "idle", "reason": "listening timed out"}),
    (schema.SpeechStopped(turn=2, reason="speech_ended", speech_seconds=1.5, voiced_seconds=1.2, stream_t=4.0,
                          speech_end_t=None),
     {"type": "speech_stopped", "turn": 2, "reason": "speech_ended", "speech_seconds": 1.5, "voiced_seconds": 1.2,
      "stream_t": 4.0, "speech_end_t": None}),
    (schema.Transcript(turn=3, text="hi", source="command"),
     {"type": "transcript", "turn": 3, "text": "hi", "source": "command"}),
    (schema.Reply(turn=1, text="Hi.", backend="intent", fallback_reason=None, llm_ttft_ms=None, llm_ms=0.0, pieces=1,
                  intent="greeting"),
     {"type": "reply", "turn": 1, "text": "Hi.", "backend": "intent", "fallback_reason": None, "llm_ttft_ms": None,
      "llm_ms": 0.0, "pieces": 1, "intent": "greeting"}),
    (schema.Reply(turn=1, text="", backend="none", fallback_reason=None, llm_ttft_ms=None, llm_ms=3.0, pieces=0,
                  interrupted=True),
     {"type": "reply", "turn": 1, "text": "", "backend": "none", "fallback_reason": None, "llm_ttft_ms": None,
      "llm_ms": 3.0, "pieces": 0, "interrupted": True}),
    (schema.AudioStopped(turn=4, interrupted=False), {"type": "audio_stopped", "turn": 4, "interrupted": False}),
    (schema.AudioStopped(turn=4, interrupted=True, heard_text=""),
     {"type": "audio_stopped", "turn": 4, "interrupted": True, "heard_text": ""}),
    (schema.Error(where="stt", message="boom", turn=0),
     {"type": "error", "where": "stt", "message": "boom", "turn": 0}),
    (schema.Error(where="input", message="stopped", fatal=True),
     {"type": "error", "where": "input", "message": "stopped", "fatal": True}),
    (schema.Error(where="commands", message="bad", source="mqtt"),
     {"type": "error", "where": "commands", "message": "bad", "source": "mqtt"}),
    (schema.IntentHandled(turn=5, name="timer_set", seconds=300.0),
     {"type": "intent", "turn": 5, "name": "timer_set", "seconds": 300.0}),
    (schema.IntentHandled(turn=5, name="set_timer", via="tool", arguments='{"seconds": 60}'),
     {"type": "intent", "turn": 5, "name": "set_timer", "via": "tool", "arguments": '{"seconds": 60}'}),
    (schema.Muted(), {"type": "mute"}),
    (schema.Listening(), {"type": "listen"}),
    (schema.Listening(follow_up=True, seconds=8.0), {"type": "listen", "follow_up": True, "seconds": 8.0}),
    (schema.VolumeChanged(volume=33.3), {"type": "volume", "volume": 33.3}),
])
def test_events_are_written_as_before(body: EventBody, line: dict[str, Any]) -> None:
    assert list(body.to_dict().items()) == list(line.items())  # the same fields, in the same order


def test_an_event_built_by_hand_is_read_leniently() -> None:
    """The untyped form (tests, tools) reads the way dict.get did: missing fields are None or their default."""
    e = Event("wake", 1.0, {"model": "m", "n": 1})
    assert e.body == schema.Wake(model="m", score=None, stream_t=None)  # type: ignore[arg-type]
    assert Event("audio_stopped", 1.0, {"turn": 2}).body == schema.AudioStopped(turn=2, interrupted=None)  # type: ignore[arg-type]
    assert Event("error", 1.0, {"where": "x", "message": "y"}).body == schema.Error(where="x", message="y")
    assert Event("noise", 1.0, {"blob": "x"}).body is None


def test_every_intent_slot_is_a_field_of_the_intent_event() -> None:
    from panikid.brains import intents
    from panikid.brains.tools import TOOLS

    fields = {f.name for f in schema.IntentHandled.fields()}
    slots = {arg.slot for tool in TOOLS for arg in tool.args.values()}
    for text in ("set a timer for five minutes", "set the volume to 40 percent"):
        intent = intents.match(text)
        assert intent is not None, text
        slots |= set(intent.slots)
    assert slots and slots <= fields, slots - fields


# ---------------------------------------------------------------- the README, MQTT and the status page agree

def _section(text: str, heading: str) -> str:
    start = text.index(heading)
    end = text.find("\n#", start + len(heading))
    return text[start:end if end > 0 else None]


def readme_events() -> dict[str, tuple[list[str], set[str]]]:
    """The README's events table: type -> (fields in order, the optional ones)."""
    table = _section((ROOT / "README.md").read_text(encoding="utf-8"), "### Events (`--events`)")
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    found: dict[str, tuple[list[str], set[str]]] = {}
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        names = re.findall(r"`([a-z_]+)`", cells[0])
        fields = re.findall(r"`([a-z_]+)(\??)`", cells[1])
        for name in names:
            assert name not in found, f"README: {name} is in the events table twice"
            found[name] = ([f for f, _ in fields], {f for f, opt in fields if opt})
    return found


def test_the_readme_events_table_is_the_schema() -> None:
    documented = readme_events()
    assert set(documented) == set(schema.EVENTS), (
        f"README lacks {sorted(set(schema.EVENTS) - set(documented))}, "
        f"the schema lacks {sorted(set(documented) - set(schema.EVENTS))}")
    for name, cls in schema.EVENTS.items():
        fields, optional = documented[name]
        assert fields == [f.name for f in cls.fields()], f"README's {name} fields"
        assert optional == {f.name for f in cls.fields() if f.optional}, f"README's optional {name} fields"


def test_the_readme_lists_the_events_mqtt_publishes() -> None:
    from panikid.control.mqtt.topics import EVENT_TYPES

    mqtt = _section((ROOT / "README.md").read_text(encoding="utf-8"), "### MQTT")
    listed = mqtt[mqtt.index("Events on `event`"):]
    listed = listed[listed.index("): ") : listed.index("\n\n")]
    assert re.findall(r"`([a-z_]+)`", listed) == EVENT_TYPES
    assert EVENT_TYPES == [*schema.EVENTS, "ack"]  # every event, and MQTT's acknowledgements


def test_the_status_page_reads_events_of_the_schema() -> None:
    page = (PACKAGE / "control/web/static/status.html").read_text(encoding="utf-8")
    handler = page[page.index("function onMessage"):page.index("function send")]
    cases = re.findall(r'case "([a-z_]+)":(.*)', handler)
    assert cases
    for name, code in cases:
        if name in ("snapshot", "ack"):  # WebSocket messages, not events
            continue
        assert name in schema.EVENTS, f"status.html reads an event type the schema lacks: {name}"
        fields = {f.name for f in schema.EVENTS[name].fields()}
        read = set(re.findall(r"\bm\.([a-z_]+)", code)) - {"type"}
        assert read <= fields, f"status.html reads {sorted(read - fields)} of {name}"
    turn_row = page[page.index("function renderTurns"):page.index("function onMessage")]
    read = set(re.findall(r"\bt\.([a-z_]+)", turn_row))
    assert read and read <= {f.name for f in schema.TurnSummary.fields()}


# ---------------------------------------------------------------- the package publishes through the schema

def _calls_and_comparisons() -> list[tuple[Path, ast.AST]]:
    found: list[tuple[Path, ast.AST]] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.Call, ast.Compare)):
                found.append((path, node))
    return found


def _is_bus(node: ast.expr) -> bool:
    name = node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else ""
    return name in ("bus", "events")


def test_every_publish_in_the_package_publishes_a_definition() -> None:
    bad = []
    for path, node in _calls_and_comparisons():
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "publish"
                and _is_bus(node.func.value)):
            arg = node.args[0] if len(node.args) == 1 else None
            if node.keywords or not isinstance(arg, (ast.Call, ast.Name, ast.IfExp)):
                bad.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not bad, f"publish with an event type and fields instead of a schema definition: {bad}"


def test_no_event_type_is_written_as_a_string_in_the_package() -> None:
    """Event types are compared through the schema (``Muted.type``, ``isinstance(e.body, Muted)``)."""
    names = set(schema.EVENTS)
    bad = []
    for path, node in _calls_and_comparisons():
        if path.name == "schema.py" and path.parent.name == "events":
            continue  # where they are defined
        if not isinstance(node, ast.Compare):
            continue
        sides = [node.left, *node.comparators]
        typed = any((isinstance(s, ast.Attribute) and s.attr == "type")
                    or (isinstance(s, ast.Subscript) and isinstance(s.slice, ast.Constant) and s.slice.value == "type")
                    or (isinstance(s, ast.Call) and isinstance(s.func, ast.Attribute) and s.func.attr == "get"
                        and s.args and isinstance(s.args[0], ast.Constant) and s.args[0].value == "type")
                    for s in sides)
        literals = [c.value for s in sides for c in ast.walk(s) if isinstance(c, ast.Constant)]
        if typed and names & set(literals):
            bad.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not bad, f"event types compared as strings: {bad}"
