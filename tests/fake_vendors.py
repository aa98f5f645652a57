"""Loopback servers that speak the cloud vendors' real streaming wire formats.

One HTTP server answers three APIs, each the way the vendor streams:

* OpenAI-compatible ``POST /v1/chat/completions`` (``data: {chunk}`` lines, ``data: [DONE]``),
* Anthropic ``POST /v1/messages`` (``event:``/``data:`` pairs: message_start,
  content_block_start, ping, content_block_delta (text_delta), content_block_stop,
  message_delta, message_stop),
* Gemini ``POST /v1beta/models/<model>:streamGenerateContent?alt=sse``
  (``data: <GenerateContentResponse JSON>`` per chunk).

``mode`` decides how it answers: ``ok``, ``status`` (``status`` code with the
vendor's JSON error body), ``hold`` (wait ``hold_seconds`` before the first
byte), ``die`` (send ``die_after`` text pieces, then drop the connection
without ending the chunked body, as a killed server does), ``tool`` (a call
to ``tool_name`` with the JSON arguments in ``tool_arguments``, streamed the
vendor's way: OpenAI sends the arguments in fragments and ends with
``finish_reason: tool_calls``; Anthropic sends a ``tool_use`` content block
whose ``input_json_delta`` fragments carry them and stops with ``tool_use``;
Gemini sends one ``functionCall`` part with the arguments as an object). Every request's
headers and JSON body are recorded in ``requests``.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeVendor:
    def __init__(self, pieces: list[str] | None = None, port: int = 0) -> None:
        self.pieces = pieces or ["Hello ", "from ", "the ", "cloud. ", "Have ", "a ", "nice ", "day."]
        self.mode = "ok"
        self.api = "openai"  # which vendor a test's client speaks (the server answers all three, by path)
        self.status = 500
        self.hold_seconds = 0.0
        self.hold_after_headers = False  # "hold": answer 200 and headers first, then hold (a slow model)
        self.die_after = 2
        self.tool_name = "set_timer"
        self.tool_arguments = ['{"seco', 'nds": 12', '00}']
        self.requests: list[dict[str, Any]] = []
        self.release = threading.Event()  # set to end a hold early
        vendor = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                vendor.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                vendor.answer(self, body)

            def do_GET(self) -> None:  # /v1/models, for readiness probes
                self._json(200, {"object": "list", "data": [{"id": "fake", "object": "model"}]})

            def _json(self, status: int, obj: Any) -> None:
                data = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeVendor:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)

    # ------------------------------------------------------------------ answers
    def answer(self, h: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        api = "anthropic" if h.path.startswith("/v1/messages") else \
            "gemini" if "streamGenerateContent" in h.path else "openai"
        if self.mode == "status":
            h._json(self.status, _error_body(api, self.status))  # type: ignore[attr-defined]
            return
        if self.mode == "hold" and not self.hold_after_headers:
            self.release.wait(self.hold_seconds)
        h.send_response(200)
        h.send_header("content-type", "text/event-stream")
        h.send_header("transfer-encoding", "chunked")
        h.end_headers()
        if self.mode == "hold" and self.hold_after_headers:
            h.wfile.flush()
            self.release.wait(self.hold_seconds)
        events = {"openai": _openai_events, "anthropic": _anthropic_events, "gemini": _gemini_events}[api]
        sent_text = 0
        try:
            if self.mode == "tool":
                tool_events = {"openai": _openai_tool_events, "anthropic": _anthropic_tool_events,
                               "gemini": _gemini_tool_events}[api]
                stream = tool_events(self.tool_name, self.tool_arguments, body)
            else:
                stream = events(self.pieces, body)
            for event, is_text in stream:
                if self.mode == "die" and is_text and sent_text >= self.die_after:
                    h.wfile.flush()
                    h.connection.shutdown(socket.SHUT_RDWR)  # no terminating chunk: a broken stream
                    h.close_connection = True
                    return
                _chunk(h, event.encode())
                sent_text += is_text
                time.sleep(0.01)
            _chunk(h, b"")
        except (BrokenPipeError, ConnectionResetError, OSError):
            h.close_connection = True


class SilentServer:
    """A port that accepts connections and never answers (a hung server or proxy): what it
    receives is read and dropped, nothing is ever sent back. Counts the connections."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.connections: list[socket.socket] = []
        self._closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections.append(conn)
            threading.Thread(target=self._drain, args=(conn,), daemon=True).start()

    @staticmethod
    def _drain(conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while conn.recv(65536):
                pass

    def __enter__(self) -> SilentServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self._closed.set()
        self.sock.close()
        for conn in self.connections:
            conn.close()


def _chunk(h: BaseHTTPRequestHandler, data: bytes) -> None:
    h.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
    h.wfile.flush()


def _error_body(api: str, status: int) -> dict[str, Any]:
    if api == "anthropic":
        kind = {429: "rate_limit_error", 529: "overloaded_error", 401: "authentication_error"}.get(status, "api_error")
        return {"type": "error", "error": {"type": kind, "message": f"fake {status}"}}
    if api == "gemini":
        name = {429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}.get(status, "UNKNOWN")
        return {"error": {"code": status, "message": f"fake {status}", "status": name}}
    return {"error": {"message": f"fake {status}", "type": "server_error", "code": None}}


def _sse(data: Any, event: str | None = None) -> str:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data)}\n\n"


def _openai_events(pieces: list[str], body: dict[str, Any]):  # type: ignore[no-untyped-def]
    base = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1700000000,
            "model": body.get("model", "fake")}
    yield _sse({**base, "choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}]}), False
    for p in pieces:
        yield _sse({**base, "choices": [{"index": 0, "delta": {"content": p}, "finish_reason": None}]}), True
    yield _sse({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}), False
    yield "data: [DONE]\n\n", False


def _openai_tool_events(name: str, arguments: list[str], body: dict[str, Any]):  # type: ignore[no-untyped-def]
    base = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1700000000,
            "model": body.get("model", "fake")}

    def delta(d: dict[str, Any], finish: str | None = None) -> str:
        return _sse({**base, "choices": [{"index": 0, "delta": d, "logprobs": None, "finish_reason": finish}]})

    first = {"index": 0, "id": "call_1", "type": "function", "function": {"name": name, "arguments": ""}}
    yield delta({"role": "assistant", "content": None, "tool_calls": [first]}), False
    for piece in arguments:
        yield delta({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}), True
    yield delta({}, "tool_calls"), False
    yield "data: [DONE]\n\n", False


def _anthropic_message_start(body: dict[str, Any]) -> str:
    msg = {"id": "msg_fake", "type": "message", "role": "assistant", "content": [],
           "model": body.get("model", "fake"), "stop_reason": None, "stop_sequence": None,
           "usage": {"input_tokens": 12, "output_tokens": 1}}
    return _sse({"type": "message_start", "message": msg}, "message_start")


def _anthropic_tool_events(name: str, arguments: list[str], body: dict[str, Any]):  # type: ignore[no-untyped-def]
    yield _anthropic_message_start(body), False
    block = {"type": "tool_use", "id": "toolu_fake1", "name": name, "input": {}}
    yield _sse({"type": "content_block_start", "index": 0, "content_block": block}, "content_block_start"), False
    for piece in arguments:
        yield _sse({"type": "content_block_delta", "index": 0,
                    "delta": {"type": "input_json_delta", "partial_json": piece}}, "content_block_delta"), True
    yield _sse({"type": "content_block_stop", "index": 0}, "content_block_stop"), False
    yield _sse({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                "usage": {"output_tokens": 20}}, "message_delta"), False
    yield _sse({"type": "message_stop"}, "message_stop"), False


def _gemini_tool_events(name: str, arguments: list[str], body: dict[str, Any]):  # type: ignore[no-untyped-def]
    call = {"name": name, "args": json.loads("".join(arguments))}
    cand = {"content": {"parts": [{"functionCall": call}], "role": "model"}, "finishReason": "STOP", "index": 0}
    chunk = {"candidates": [cand], "modelVersion": "gemini-fake",
             "usageMetadata": {"promptTokenCount": 12, "candidatesTokenCount": 5, "totalTokenCount": 17}}
    yield f"data: {json.dumps(chunk)}\r\n\r\n", True


def _anthropic_events(pieces: list[str], body: dict[str, Any]):  # type: ignore[no-untyped-def]
    yield _anthropic_message_start(body), False
    yield _sse({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
               "content_block_start"), False
    yield _sse({"type": "ping"}, "ping"), False
    for p in pieces:
        yield _sse({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}},
                   "content_block_delta"), True
    yield _sse({"type": "content_block_stop", "index": 0}, "content_block_stop"), False
    yield _sse({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": len(pieces)}}, "message_delta"), False
    yield _sse({"type": "message_stop"}, "message_stop"), False


def _gemini_events(pieces: list[str], body: dict[str, Any]):  # type: ignore[no-untyped-def]
    for i, p in enumerate(pieces):
        cand: dict[str, Any] = {"content": {"parts": [{"text": p}], "role": "model"}, "index": 0}
        if i == len(pieces) - 1:
            cand["finishReason"] = "STOP"
        chunk = {"candidates": [cand], "modelVersion": "gemini-fake",
                 "usageMetadata": {"promptTokenCount": 12, "candidatesTokenCount": i + 1,
                                   "totalTokenCount": 13 + i}}
        yield f"data: {json.dumps(chunk)}\r\n\r\n", True
