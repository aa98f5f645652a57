"""The router against loopback servers with injected faults, the real local model as the fallback."""

from __future__ import annotations

import json
import logging
import threading
import time

import pytest
from fake_vendors import FakeVendor, SilentServer
from helpers import free_port

from panikid.brains.processor import AssistantProcessor
from panikid.brains.prompt import APOLOGY
from panikid.brains.providers.anthropic import AnthropicProvider
from panikid.brains.providers.gemini import GeminiProvider
from panikid.brains.providers.llama_cpp import LlamaCppBackend
from panikid.brains.providers.openai_compat import OpenAICompatProvider
from panikid.brains.router import Router
from panikid.events import EventBus
from panikid.pipeline.frames import LLMTextFrame, TranscriptionFrame
from panikid.pipeline.testing import run, run_frames

MESSAGES = [{"role": "system", "content": "Answer in one short sentence."},
            {"role": "user", "content": "Say hello."}]


@pytest.fixture(scope="module")
def local() -> LlamaCppBackend:
    from panikid import models
    from panikid.config import ModelsConfig

    return LlamaCppBackend(models.resolve("llm", "smollm2-135m", ModelsConfig()), 1024, max_tokens=24)


@pytest.fixture
def vendor():
    with FakeVendor() as v:
        yield v


def openai_cloud(url: str, key: str | None = "sk-test") -> OpenAICompatProvider:
    return OpenAICompatProvider("cloud", "fake-model", key, base_url=url, timeout=10)


def ask(router: Router, policy: str | None = None) -> str:
    return "".join(router.stream(MESSAGES, threading.Event(), policy=policy))


def test_cloud_answers_when_healthy(local, vendor) -> None:
    router = Router(local, openai_cloud(vendor.url + "/v1"), policy="cloud-first")
    assert ask(router) == "Hello from the cloud. Have a nice day."
    assert router.last.backend == "cloud" and router.last.fallback_reason is None
    assert vendor.requests[0]["body"]["messages"] == MESSAGES


def test_connection_refused_falls_back_to_local(local) -> None:
    router = Router(local, openai_cloud(f"http://127.0.0.1:{free_port()}/v1"), policy="cloud-first")
    text = ask(router)
    assert text.strip() and "cloud" not in text
    assert router.last.backend == "local" and router.last.fallback_reason == "cloud: unavailable"


@pytest.mark.parametrize("status,reason", [(500, "server_error"), (429, "rate_limited"), (503, "server_error")])
def test_http_errors_fall_back_to_local(local, vendor, status: int, reason: str) -> None:
    vendor.mode, vendor.status = "status", status
    router = Router(local, openai_cloud(vendor.url + "/v1"), policy="cloud-first")
    assert ask(router).strip()
    assert router.last.backend == "local" and router.last.fallback_reason == f"cloud: {reason}"
    assert len(vendor.requests) == 1  # no SDK retries: the router decides


def test_stream_dying_before_a_sentence_falls_back_silently(local, vendor) -> None:
    vendor.mode, vendor.die_after = "die", 2  # "Hello from " then the connection drops
    router = Router(local, openai_cloud(vendor.url + "/v1"), policy="cloud-first")
    text = ask(router)
    assert "Hello from" not in text and text.strip()  # nothing of the broken reply was released
    assert router.last.backend == "local" and router.last.fallback_reason == "cloud: stream_broken"


def test_stream_dying_after_a_sentence_keeps_what_was_said(local, vendor) -> None:
    vendor.mode, vendor.die_after = "die", 5  # "Hello from the cloud. Have " then the drop
    router = Router(local, openai_cloud(vendor.url + "/v1"), policy="cloud-first")
    text = ask(router)
    assert text.startswith("Hello from the cloud.") and "nice day" not in text
    assert router.last.backend == "cloud" and router.last.error is not None
    assert router.last.error.reason == "stream_broken"


def test_first_token_deadline_moves_on_to_local(local, vendor) -> None:
    # The server answers 200 and its headers, then the model is slow: one ordinary failure.
    vendor.mode, vendor.hold_seconds, vendor.hold_after_headers = "hold", 60, True
    router = Router(local, openai_cloud(vendor.url + "/v1"), policy="cloud-first", first_token_seconds=1.0)
    text = ask(router)
    assert text.strip() and "cloud" not in text
    assert router.last.backend == "local" and router.last.fallback_reason == "cloud: first_token_timeout"
    assert not vendor.release.is_set()  # the cloud was still holding when local answered
    assert router.breakers["cloud"].state == "closed" and router.breakers["cloud"].failures == 1


def test_breaker_opens_after_failures_and_closes_when_the_server_is_back(local) -> None:
    now = [1000.0]
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1"
    router = Router(local, openai_cloud(url), policy="cloud-first", failure_threshold=2, cooldown_seconds=30,
                    clock=lambda: now[0])
    for _ in range(2):  # nothing listens: connection refused
        ask(router)
        assert router.last.fallback_reason == "cloud: unavailable"
    assert router.breakers["cloud"].state == "open"
    with FakeVendor(port=port) as v:  # the server is back...
        ask(router)  # ...but during the cool-down the cloud is skipped
        assert router.last.backend == "local" and router.last.fallback_reason == "cloud: circuit_open"
        assert v.requests == []
        now[0] += 31  # after it, one probe goes out and closes the breaker
        assert ask(router) == "Hello from the cloud. Have a nice day."
        assert router.last.backend == "cloud" and router.breakers["cloud"].state == "closed"
        assert len(v.requests) == 1


SDKS = [OpenAICompatProvider, AnthropicProvider, GeminiProvider]


def _silent_cloud(provider_cls, url: str):  # the SDK's own timeouts are long: only the router's deadline counts
    base = url + "/v1" if provider_cls is OpenAICompatProvider else url
    return provider_cls("cloud", "fake-model", "sk-test", base_url=base, timeout=30)


class Clock:
    """Real time, which a test can move forward (between turns) to skip a cool-down's wait."""

    def __init__(self) -> None:
        self.offset = 1000.0

    def __call__(self) -> float:
        return time.monotonic() + self.offset

    def at(self, t: float) -> None:
        self.offset += t - self()


@pytest.mark.parametrize("provider_cls", SDKS, ids=lambda c: c.__name__)
def test_a_cloud_that_accepts_and_never_answers_is_skipped_from_the_next_turn(local, provider_cls) -> None:
    """cloud-first, a port that accepts the connection and stays silent: one turn pays the
    first-token deadline, the next ones go straight to the local model until the cool-down ends;
    then exactly one probe."""
    clock = Clock()
    with SilentServer() as silent:
        router = Router(local, _silent_cloud(provider_cls, silent.url), policy="cloud-first",
                        first_token_seconds=1.0, failure_threshold=3, cooldown_seconds=30, clock=clock)
        assert ask(router).strip() and router.last.backend == "local"
        assert router.last.fallback_reason == "cloud: unresponsive"
        breaker = router.breakers["cloud"]
        assert breaker.state == "open" and len(silent.connections) == 1
        opened = breaker.opened_at
        for later in (0.5, 15, 29.5):  # within the cool-down: skipped, no connection
            clock.at(opened + later)
            assert ask(router).strip() and router.last.fallback_reason == "cloud: circuit_open"
        assert len(silent.connections) == 1
        clock.at(opened + 30.5)  # the cool-down is over: one probe, still silent, open again
        ask(router)
        assert router.last.fallback_reason == "cloud: unresponsive" and len(silent.connections) == 2
        assert breaker.state == "open" and breaker.opened_at > opened + 30
        ask(router)
        assert router.last.fallback_reason == "cloud: circuit_open" and len(silent.connections) == 2


def test_a_cancelled_probe_is_the_one_probe_of_its_cool_down(local) -> None:
    clock = Clock()
    with SilentServer() as silent:
        router = Router(local, _silent_cloud(OpenAICompatProvider, silent.url), policy="cloud-first",
                        first_token_seconds=30.0, failure_threshold=1, cooldown_seconds=30, clock=clock)
        router.breakers["cloud"].record_failure(clock())
        clock.at(clock() + 31)
        cancel = threading.Event()
        threading.Timer(1.0, cancel.set).start()  # the user says "stop" while the probe waits
        assert "".join(router.stream(MESSAGES, cancel)) == ""
        assert len(silent.connections) == 1 and router.breakers["cloud"].state == "open"
        clock.at(clock() + 10)  # the next turn does not probe again at once...
        assert ask(router).strip() and router.last.fallback_reason == "cloud: circuit_open"
        assert len(silent.connections) == 1
        clock.at(clock() + 21)  # ...but after the next cool-down
        ask(router)
        assert len(silent.connections) == 2


def test_a_probe_whose_stream_is_closed_early_still_gives_its_verdict(local, vendor) -> None:
    now = [1000.0]
    router = Router(local, openai_cloud(vendor.url + "/v1"), policy="local-first", failure_threshold=1,
                    cooldown_seconds=30, clock=lambda: now[0])
    router.breakers["local"].record_failure(now[0])  # the local model cools down: the cloud answers
    for piece in router.stream(MESSAGES, threading.Event()):
        assert piece.startswith("Hello from the cloud.")
        break  # a consumer that stops reading after the first sentence
    assert router.breakers["cloud"].state == "closed"
    now[0] = 1031.0  # the local breaker's probe: only when the local model is really called
    assert router.breakers["local"].available(now[0])
    assert ask(router).strip() and router.last.backend == "local"
    assert router.breakers["local"].state == "closed"


def test_a_provider_not_called_is_not_left_half_open(local, vendor) -> None:
    """local-first with the cloud cooling down: after its cool-down, a turn the local model
    answers must not use up the cloud's probe (it stayed half-open for good)."""
    now = [1000.0]
    router = Router(local, openai_cloud(vendor.url + "/v1"), policy="local-first", failure_threshold=1,
                    cooldown_seconds=30, clock=lambda: now[0])
    router.breakers["cloud"].record_failure(now[0])
    now[0] = 1031.0
    ask(router)
    assert router.last.backend == "local" and vendor.requests == []
    assert router.breakers["cloud"].state == "open" and router.breakers["cloud"].available(now[0])
    router.breakers["local"].record_failure(now[0])  # now the local model cools down
    assert ask(router) == "Hello from the cloud. Have a nice day."  # the cloud is probed and answers
    assert router.breakers["cloud"].state == "closed"


@pytest.mark.parametrize("provider_cls", [AnthropicProvider, GeminiProvider])
def test_vendor_sdks_stream_and_fall_back(local, vendor, provider_cls) -> None:
    cloud = provider_cls("cloud", "fake-model", "sk-test", base_url=vendor.url, timeout=10)
    router = Router(local, cloud, policy="cloud-first")
    assert ask(router) == "Hello from the cloud. Have a nice day."
    assert router.last.backend == "cloud"
    req = vendor.requests[-1]
    if provider_cls is AnthropicProvider:
        assert req["path"] == "/v1/messages" and req["body"]["system"] == MESSAGES[0]["content"]
        assert req["body"]["messages"] == [MESSAGES[1]] and req["body"]["stream"] is True
    else:
        assert req["path"].endswith("models/fake-model:streamGenerateContent?alt=sse")
        assert req["body"]["contents"] == [{"role": "user", "parts": [{"text": "Say hello."}]}]
        assert "Answer in one short sentence." in json.dumps(req["body"]["systemInstruction"])
    for mode, status, reason in (("status", 429, "rate_limited"), ("status", 500, "server_error"),
                                 ("die", 0, "stream_broken")):
        vendor.mode, vendor.status, vendor.die_after = mode, status, 1
        text = ask(router)
        assert text.strip() and "Hello from" not in text
        assert router.last.backend == "local" and router.last.fallback_reason == f"cloud: {reason}"
        router.breakers["cloud"].record_success(0)  # keep the breaker out of this test


@pytest.mark.parametrize("provider_cls", [AnthropicProvider, GeminiProvider])
def test_vendors_without_system_messages_get_later_notes_with_the_next_question(vendor, provider_cls) -> None:
    conversation = [{"role": "system", "content": "Be brief."},
                    {"role": "system", "content": "Earlier in this conversation: the user is Ada."},
                    {"role": "user", "content": "Who wrote Hamlet?"},
                    {"role": "assistant", "content": "Shakespeare."},
                    {"role": "user", "content": "When was he born?"}]
    cloud = provider_cls("cloud", "fake-model", "sk-test", base_url=vendor.url, timeout=10)
    assert "".join(cloud.stream(conversation, threading.Event())) == "Hello from the cloud. Have a nice day."
    body = vendor.requests[-1]["body"]
    if provider_cls is AnthropicProvider:
        assert body["system"] == "Be brief."
        turns = [(m["role"], m["content"]) for m in body["messages"]]
    else:
        assert json.dumps(body["systemInstruction"]).count("Be brief.") == 1
        assert "Ada" not in json.dumps(body["systemInstruction"])
        turns = [(c["role"].replace("model", "assistant"), c["parts"][0]["text"]) for c in body["contents"]]
    assert turns == [("user", "(Earlier in this conversation: the user is Ada.)\nWho wrote Hamlet?"),
                     ("assistant", "Shakespeare."), ("user", "When was he born?")]


def test_reply_event_names_backend_and_fallback_reason(local) -> None:
    router = Router(local, openai_cloud(f"http://127.0.0.1:{free_port()}/v1"), policy="cloud-first")
    bus = EventBus()
    out = run(run_frames(AssistantProcessor(router, "Be brief."), [TranscriptionFrame(4, "Say hello.")], bus))
    assert any(isinstance(f, LLMTextFrame) for f in out)
    (reply,) = bus.of_type("reply")
    assert reply.data["backend"] == "local" and reply.data["fallback_reason"] == "cloud: unavailable"
    assert reply.data["text"]


def test_all_failing_says_sorry_and_publishes_an_error() -> None:
    router = Router(None, openai_cloud(f"http://127.0.0.1:{free_port()}/v1"), policy="cloud-only")
    bus = EventBus()
    out = run(run_frames(AssistantProcessor(router, "Be brief."), [TranscriptionFrame(5, "Hi.")], bus))
    assert [f.text for f in out if isinstance(f, LLMTextFrame)] == [APOLOGY]
    (reply,) = bus.of_type("reply")
    assert reply.data["backend"] == "none" and reply.data["text"] == APOLOGY
    (err,) = bus.of_type("error")
    assert err.data["where"] == "assistant" and "unavailable" in err.data["message"]


def test_api_key_never_reaches_events_or_logs(local, vendor, caplog) -> None:
    key = "sk-live-SECRET-1234567890abcdef"
    bus = EventBus()
    caplog.set_level(logging.DEBUG)
    router = Router(local, openai_cloud(vendor.url + "/v1", key), policy="cloud-first")
    run(run_frames(AssistantProcessor(router, "Be brief."), [TranscriptionFrame(6, "Hi.")], bus))
    vendor.mode, vendor.status = "status", 401  # a failing call: error events and warnings are logged
    run(run_frames(AssistantProcessor(router, "Be brief."), [TranscriptionFrame(7, "Hi.")], bus))
    headers = {k.lower(): v for k, v in vendor.requests[0]["headers"].items()}
    assert headers["authorization"] == f"Bearer {key}"  # the key was used...
    events = "\n".join(e.to_json() for e in bus.history)
    assert "cloud: auth" in events
    assert key not in events and key not in caplog.text  # ...and never shown
    assert "SECRET" not in events and "SECRET" not in caplog.text


# ----------------------------------------------------------------------------- context and actions in the assistant

class _Recording:
    """The real local model, recording the messages of each call."""

    def __init__(self, inner: LlamaCppBackend) -> None:
        self.inner, self.name, self.calls = inner, inner.name, []

    def stream(self, messages, cancel):  # noqa: ANN001, ANN201
        self.calls.append(messages)
        return self.inner.stream(messages, cancel)


def _assistant(backend, **kw) -> AssistantProcessor:  # noqa: ANN001
    from panikid.brains.context import Conversation
    from panikid.brains.intents import IntentHandler

    return AssistantProcessor(backend, "Be brief.", conversation=Conversation(max_tokens=400, **kw),
                              intents=IntentHandler())


def test_second_question_carries_the_first_turn(local) -> None:
    rec = _Recording(local)
    proc = _assistant(rec)
    bus = EventBus()
    run(run_frames(proc, [TranscriptionFrame(1, "Who wrote Hamlet?"), TranscriptionFrame(2, "When was he born?")],
                   bus))
    first_reply = bus.of_type("reply")[0].data["text"]
    second = rec.calls[1]
    assert [m["role"] for m in second] == ["system", "user", "assistant", "user"]
    assert second[1]["content"] == "Who wrote Hamlet?" and second[2]["content"] == first_reply
    assert second[3]["content"] == "When was he born?"


def test_context_uses_the_local_tokenizer_for_its_budget(local) -> None:
    from panikid.brains.context import Conversation

    conv = Conversation(max_tokens=30, max_turns=50, count=local.count_tokens)
    for i in range(6):
        conv.add(f"Question {i}: tell me something about the weather today.", f"Answer {i}: it is sunny.", now=i)
    used = sum(local.count_tokens(e.user) + local.count_tokens(e.assistant) for e in conv.exchanges)
    assert 0 < used <= 30 and conv.exchanges[-1].user.startswith("Question 5")


def test_interrupted_reply_is_trimmed_in_the_history(local) -> None:
    proc = _assistant(local)
    bus = EventBus()
    run(run_frames(proc, [TranscriptionFrame(3, "Tell me about the moon in three sentences.")], bus))
    full = proc.conversation.exchanges[-1].assistant  # type: ignore[union-attr]
    bus.publish("audio_started", turn=3)
    bus.publish("audio_stopped", turn=3, interrupted=True)
    trimmed = proc.conversation.exchanges[-1].assistant  # type: ignore[union-attr]
    assert trimmed.endswith("(interrupted)") and len(trimmed) <= len(full) + len(" (interrupted)")
    assert trimmed.replace(" (interrupted)", "") in full


def test_intent_answers_without_the_llm(local) -> None:
    rec = _Recording(local)
    bus = EventBus()
    out = run(run_frames(_assistant(rec), [TranscriptionFrame(8, "Set a timer for 5 seconds.")], bus))
    assert rec.calls == []
    assert [f.text for f in out if isinstance(f, LLMTextFrame)] == ["Timer set for 5 seconds."]
    (reply,) = bus.of_type("reply")
    assert reply.data["backend"] == "intent" and reply.data["intent"] == "timer_set"


def test_user_action_publishes_through_the_sink(local) -> None:
    from panikid.brains.actions import ActionConfigError, parse_actions

    published: list[tuple[str, str]] = []

    class Sink:
        def publish(self, topic: str, payload: str) -> None:
            published.append((topic, payload))

    proc = _assistant(local)
    proc.user_actions = parse_actions(["Turn on the lights | home/lights/set | ON | Lights on."])
    proc.action_sink = Sink()
    bus = EventBus()
    run(run_frames(proc, [TranscriptionFrame(9, "Please turn on the lights!")], bus))
    assert published == [("home/lights/set", "ON")]
    assert bus.of_type("reply")[0].data["text"] == "Lights on."
    proc.action_sink = None  # no MQTT: a clear error, a spoken apology, the daemon goes on
    run(run_frames(proc, [TranscriptionFrame(10, "turn on the lights")], bus))
    assert "enable [mqtt]" in bus.of_type("error")[0].data["message"]
    with pytest.raises(ActionConfigError, match=r"intents.actions\[0\]"):
        parse_actions(["just a phrase"])


@pytest.fixture
def blackhole():
    """A TCP port on loopback that never completes a connection (its accept queue is full),
    like a cloud whose host is down or a network that drops packets."""
    import socket

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(0)
    port = srv.getsockname()[1]
    fillers = []
    for _ in range(3):
        c = socket.socket()
        c.setblocking(False)
        try:
            c.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        fillers.append(c)
    yield port
    for c in fillers:
        c.close()
    srv.close()


@pytest.mark.parametrize("provider", ["openai", "anthropic", "gemini"])
def test_a_cloud_that_never_connects_costs_only_the_connect_deadline(local, blackhole: int, provider: str,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from panikid import config as config_mod
    from panikid.brains.factory import build_cloud

    monkeypatch.setenv("PANIKID_CLOUD_API_KEY", "sk-test")

    base_url = f"http://127.0.0.1:{blackhole}" + ("/v1" if provider == "openai" else "")
    cfg = config_mod.replace(config_mod.Config(), cloud={
        "provider": provider, "model": "m", "base_url": base_url,
        "connect_seconds": 0.5, "timeout_seconds": 60.0}, router={"first_token_seconds": 30.0})
    cloud = build_cloud(cfg)
    router = Router(local, cloud, policy="cloud-first", first_token_seconds=30.0)
    assert ask(router).strip()
    # The connect deadline (0.5 s), not the 30 s first-token deadline, moved the turn to the local model.
    assert router.last.backend == "local" and router.last.fallback_reason == "cloud: timeout"
    assert router.last.attempts[0][0] == "cloud"


def test_interrupted_reply_keeps_exactly_what_the_output_says_was_heard(local) -> None:
    proc = _assistant(local)
    bus = EventBus()
    run(run_frames(proc, [TranscriptionFrame(4, "Tell me about the sun in three sentences.")], bus))
    bus.publish("audio_started", turn=4)
    bus.publish("audio_stopped", turn=4, interrupted=True, heard_text="The sun is a star.")
    assert proc.conversation.exchanges[-1].assistant == "The sun is a star. (interrupted)"  # type: ignore[union-attr]
