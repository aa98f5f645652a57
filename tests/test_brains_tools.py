"""The instant intents as function-calling tools: the real openai, anthropic and google-genai SDKs against a
loopback vendor that streams tool calls each vendor's way."""

from __future__ import annotations

import datetime as dt
import json
import threading

import pytest
from fake_vendors import FakeVendor

from panikid.brains import intents, tools
from panikid.brains.intents import Action, IntentHandler
from panikid.brains.processor import AssistantProcessor
from panikid.brains.providers.anthropic import AnthropicProvider
from panikid.brains.providers.gemini import GeminiProvider
from panikid.brains.providers.openai_compat import OpenAICompatProvider
from panikid.brains.router import Router
from panikid.events import EventBus
from panikid.pipeline.frames import LLMTextFrame, TranscriptionFrame
from panikid.pipeline.testing import run, run_frames

NOW = dt.datetime(2026, 3, 14, 15, 9, tzinfo=dt.UTC)


VENDORS = ("openai", "anthropic", "gemini")


@pytest.fixture(params=VENDORS)
def vendor(request):
    with FakeVendor() as v:
        v.mode = "tool"
        v.api = request.param
        yield v


def _router(vendor: FakeVendor, use_tools: bool = True) -> Router:
    cloud: OpenAICompatProvider | AnthropicProvider | GeminiProvider
    if vendor.api == "anthropic":
        cloud = AnthropicProvider("cloud", "fake-model", "sk-test", base_url=vendor.url, timeout=10)
    elif vendor.api == "gemini":
        cloud = GeminiProvider("cloud", "fake-model", "sk-test", base_url=vendor.url, timeout=10)
    else:
        cloud = OpenAICompatProvider("cloud", "fake-model", "sk-test", base_url=vendor.url + "/v1", timeout=10)
    return Router(None, cloud, policy="cloud-only", tools=use_tools)


def _sent_tools(vendor: FakeVendor) -> dict[str, dict]:
    """The tools of the last request, by name, each as (description, JSON schema of its arguments)."""
    body = vendor.requests[-1]["body"]
    if vendor.api == "anthropic":
        return {t["name"]: {"description": t["description"], "schema": t["input_schema"]} for t in body["tools"]}
    if vendor.api == "gemini":
        (tool,) = body["tools"]
        # Google's JSON mapping accepts a field by its proto name or in lowerCamelCase; this SDK sends the former.
        return {f["name"]: {"description": f["description"],
                            "schema": f.get("parametersJsonSchema", f.get("parameters_json_schema"))}
                for f in tool["functionDeclarations"]}
    return {t["function"]["name"]: {"description": t["function"]["description"],
                                    "schema": t["function"]["parameters"]} for t in body["tools"]}


def _assistant(router: Router, handler: IntentHandler, actions: list[Action]) -> AssistantProcessor:
    proc = AssistantProcessor(router, "Be brief.", clock=lambda: NOW, intents=handler, monotonic=lambda: 100.0)
    proc.on_action = actions.append
    return proc


def _no_instant_intent(text: str) -> str:
    assert intents.match(text) is None, f"the instant matcher already answers {text!r}: not a tool test"
    return text


def _spoken(out: list[object]) -> str:
    return "".join(f.text for f in out if isinstance(f, LLMTextFrame))


# ------------------------------------------------------------------ pure table
def test_schemas_come_from_the_table() -> None:
    by_name = {s["function"]["name"]: s for s in tools.schemas()}
    assert set(by_name) == {t.name for t in tools.TOOLS}
    timer = by_name["set_timer"]
    assert timer["type"] == "function"
    params = timer["function"]["parameters"]
    assert params["required"] == ["seconds"] and params["properties"]["seconds"]["type"] == "number"
    assert params["additionalProperties"] is False
    assert by_name["get_time"]["function"]["parameters"]["properties"] == {}


@pytest.mark.parametrize("name,arguments,problem", [
    ("launch_rocket", "{}", "unknown tool 'launch_rocket'"),
    ("set_timer", '{"seconds": ', "not valid JSON"),
    ("set_timer", "[1200]", "must be a JSON object"),
    ("set_timer", "{}", "missing argument 'seconds'"),
    ("set_timer", '{"seconds": "soon"}', "seconds must be a number"),
    ("set_timer", '{"seconds": true}', "seconds must be a number"),
    ("set_timer", '{"seconds": -5}', "between 1 and 86400"),
    ("set_volume", '{"percent": 50, "loud": 1}', "unknown argument loud"),
])
def test_bad_calls_are_refused_with_the_reason(name: str, arguments: str, problem: str) -> None:
    handler = IntentHandler()
    result = tools.run_tool(handler, name, arguments, NOW, 0.0)
    assert result.text == tools.SORRY and result.action is None
    assert result.error is not None and problem in result.error
    assert handler.timers.remaining(0.0) == []


def test_tool_reuses_the_intent_handler() -> None:
    handler = IntentHandler()
    assert tools.run_tool(handler, "get_time", "", NOW, 0.0).text == "It is 3:09 PM."
    result = tools.run_tool(handler, "set_volume", '{"percent": 30}', NOW, 0.0)
    assert result.text == "Volume set to 30 percent." and result.action == Action("volume_set", 0.3)


# ------------------------------------------------------------- over the wire
def test_request_carries_the_tools(vendor) -> None:
    vendor.mode = "ok"
    router = _router(vendor)
    assert "".join(router.stream([{"role": "user", "content": "Hi."}], threading.Event()))
    expected = {s["function"]["name"]: {"description": s["function"]["description"],
                                        "schema": s["function"]["parameters"]} for s in tools.schemas()}
    assert _sent_tools(vendor) == expected
    assert expected["set_timer"]["schema"]["properties"]["seconds"]["maximum"] == 86400
    if vendor.api == "openai":
        assert vendor.requests[-1]["body"]["tools"] == tools.schemas()


def test_no_tools_when_turned_off(vendor) -> None:
    vendor.mode = "ok"
    router = _router(vendor, use_tools=False)
    assert "".join(router.stream([{"role": "user", "content": "Hi."}], threading.Event()))
    assert "tools" not in vendor.requests[0]["body"]


def test_streamed_set_timer_call_starts_a_timer(vendor) -> None:
    handler, actions, bus = IntentHandler(), [], EventBus()
    proc = _assistant(_router(vendor), handler, actions)
    text = _no_instant_intent("Give me a shout when twenty minutes have passed.")
    out = run(run_frames(proc, [TranscriptionFrame(1, text)], bus))
    assert _spoken(out) == "Timer set for 20 minutes."
    (timer, left), = handler.timers.remaining(100.0)
    assert left == 1200 and timer.label == "20 minutes"
    (intent,) = bus.of_type("intent")
    assert intent.data["name"] == "set_timer" and intent.data["via"] == "tool"
    assert json.loads(intent.data["arguments"]) == {"seconds": 1200}
    (reply,) = bus.of_type("reply")
    assert reply.data["backend"] == "cloud" and reply.data["text"] == "Timer set for 20 minutes."
    assert bus.of_type("error") == [] and actions == []


def test_set_volume_call_applies_the_action(vendor) -> None:
    vendor.tool_name, vendor.tool_arguments = "set_volume", ['{"perc', 'ent": ', "40}"]
    actions: list[Action] = []
    bus = EventBus()
    out = run(run_frames(_assistant(_router(vendor), IntentHandler(), actions),
                         [TranscriptionFrame(2, _no_instant_intent("Bring the sound level to forty."))], bus))
    assert actions == [Action("volume_set", 0.4)]
    assert _spoken(out) == "Volume set to 40 percent."


@pytest.mark.parametrize("api", ["openai", "anthropic"])  # Gemini sends arguments as an object, never as text
def test_malformed_arguments_apologise_and_keep_going(api: str) -> None:
    with FakeVendor() as vendor:
        vendor.mode, vendor.api = "tool", api
        _malformed_arguments_apologise_and_keep_going(vendor)


def _malformed_arguments_apologise_and_keep_going(vendor: FakeVendor) -> None:
    vendor.tool_arguments = ['{"seconds": tw', "enty}"]
    handler, actions, bus = IntentHandler(), [], EventBus()
    proc = _assistant(_router(vendor), handler, actions)
    frames = [TranscriptionFrame(3, _no_instant_intent("Wake me in a bit.")), TranscriptionFrame(4, "What time is it?")]
    out = run(run_frames(proc, frames, bus))
    first, second = (e.data["text"] for e in bus.of_type("reply"))
    assert first == tools.SORRY and second == "It is 3:09 PM."  # the next turn is answered
    assert _spoken(out) == tools.SORRY + "It is 3:09 PM."
    (err,) = bus.of_type("error")
    assert err.data["turn"] == 3 and "set_timer: arguments are not valid JSON" in err.data["message"]
    assert handler.timers.remaining(100.0) == [] and actions == []


def test_tool_call_with_intents_disabled_says_why(vendor) -> None:
    bus = EventBus()
    proc = AssistantProcessor(_router(vendor), "Be brief.", intents=None)
    out = run(run_frames(proc, [TranscriptionFrame(5, "Give me a shout in a while.")], bus))
    assert _spoken(out) == tools.SORRY
    (err,) = bus.of_type("error")
    assert "intents are disabled (intents.enabled)" in err.data["message"]


@pytest.mark.parametrize("provider", ["openai", "anthropic", "gemini"])
def test_the_configured_router_offers_tools_to_the_cloud_only(provider: str) -> None:
    from panikid import config as config_mod
    from panikid.brains.factory import build_router

    cloud_cfg = {"provider": provider, "model": "m", "base_url": "http://127.0.0.1:9/v1"}
    on = build_router(config_mod.replace(config_mod.Config(), cloud=cloud_cfg), None)
    assert on.providers["cloud"].tools == tools.schemas()
    off = build_router(config_mod.replace(config_mod.Config(), cloud=cloud_cfg, router={"tools": False}), None)
    assert not off.providers["cloud"].tools
