"""The local HTTP surface: /healthz, /metrics, the status page, the /ws WebSocket API and remote audio.

Remote audio (a browser or a program as the microphone and speaker, one session at a time):
``/audio`` (PCM over a WebSocket, :mod:`.audio`), ``POST /webrtc/offer`` (:mod:`.webrtc`),
``/audio/info`` (what the page may use). https with a self-signed certificate: :mod:`.tls`.

One aiohttp server on ``[web] host:port``. A WebSocket client first gets a
``snapshot`` message, then every event as JSON (the ``--events`` line format);
it may send commands (the schema of :mod:`panikid.control.schema`), each
answered by an ``ack`` message. Each client has a bounded queue: a client that
does not keep up is disconnected, it never slows the daemon.

Access: a token (``PANIKID_WEB_TOKEN`` or ``[web] token_file``) is required
whenever the server listens beyond loopback (it refuses to start otherwise);
on loopback it is optional. Clients send it as ``Authorization: Bearer <token>``
or ``?token=<token>``. Browsers' ``Origin`` must be the server itself or one of
``[web] allowed_origins``. Before anything is served, the ``Host`` header must
name this server (:func:`host_allowed`): a web page whose name was rebound to
127.0.0.1 (DNS rebinding) is refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import json
import logging
import os
import socket
from collections.abc import Mapping
from importlib import resources
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from ... import events as ev
from ...config import Config
from ...events import Event, dumps
from ...events.schema import Error
from ...secrets import read_secret
from .. import settings
from ..commands import decode
from ..schema import CommandError, load_json, request_id
from . import tls, webrtc
from .audio import AudioWebSocket, open_session, peer_of
from .status import Status
from .ws_frames import CheckedWebSocketResponse

if TYPE_CHECKING:
    from ..api import ControlApi

log = logging.getLogger(__name__)

TOKEN_ENV = "PANIKID_WEB_TOKEN"
SEND_DEADLINE = 5.0
"""A client that cannot take one message within this is disconnected."""
SEND_BUFFER_BYTES = 16 * 1024
"""Kernel send buffer of a WebSocket connection. Bounded so that a client that stops reading
is noticed (its queue fills) after a few hundred kilobytes, not after megabytes."""
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
MAX_OFFER_BYTES = 64 * 1024
"""Largest WebRTC offer (SDP) accepted; a browser's is a few kilobytes."""


class WebConfigError(Exception):
    """The web settings cannot be used safely (e.g. no token beyond loopback)."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_name(header: str) -> str:
    """The name in a ``Host`` header, without the port: ``[::1]:8787`` -> ``::1``."""
    host = header.strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    if host.count(":") == 1:
        host = host.split(":", 1)[0]
    return host.rstrip(".")


def _is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return False


def host_allowed(header: str | None, configured: str, allowed: list[str]) -> bool:
    """Does a request's ``Host`` name this server? Loopback names, ``web.host`` and
    ``web.allowed_hosts`` (any port), and addresses: DNS rebinding needs a name, so a
    request for an address is the user's own. No header is not a browser: allowed."""
    if header is None:
        return True
    name = host_name(header)
    names = {*LOOPBACK_NAMES, host_name(configured), *(host_name(h) for h in allowed)}
    return name in names or _is_address(name)


class _Client:
    def __init__(self, request: web.Request, ws: web.WebSocketResponse, maxsize: int) -> None:
        self.request = request
        self.ws = ws
        self.queue: asyncio.Queue[str] = asyncio.Queue(maxsize)
        self.dropped = False

    def offer(self, text: str) -> bool:
        try:
            self.queue.put_nowait(text)
            return True
        except asyncio.QueueFull:
            return False


class WebSurface:
    def __init__(self, cfg: Config, environ: Mapping[str, str] | None = None) -> None:
        self.wcfg = cfg.web
        self.environ = os.environ if environ is None else environ
        self.clients: set[_Client] = set()
        self.dropped_clients = 0
        self.runner: web.AppRunner | None = None
        self.port = 0
        self.audio_ws = AudioWebSocket(self)
        self.webrtc: webrtc.WebRtcSessions | None = None
        self.webrtc_missing: str | None = "the web surface has not started"
        """Why WebRTC cannot be served (None: it can); found once at start."""

    async def start(self, control: ControlApi) -> None:
        w = self.wcfg
        self.token = read_secret(TOKEN_ENV, w.token_file, self.environ, "web.token_file", credential="web_token")
        if not is_loopback(w.host) and not self.token:
            raise WebConfigError(
                f"web.host is {w.host!r} (beyond loopback) but no token is set: set {TOKEN_ENV} or "
                "web.token_file, or listen on 127.0.0.1")
        self.control = control
        self.handler = control.commands
        self.status = Status(started=control.bus.now())
        control.bus.listen(self._on_event)
        app = web.Application(client_max_size=w.max_message_bytes, middlewares=[self._check_host])
        app.router.add_get("/", self._page)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/ws", self._ws)
        app.router.add_get("/talk.js", self._talk_js)
        app.router.add_get("/audio", self.audio_ws.handle)
        app.router.add_get("/audio/info", self._audio_info)
        app.router.add_post("/webrtc/offer", self._webrtc_offer)
        self.webrtc_missing = await asyncio.to_thread(webrtc.available)  # imports aiortc: off the event loop
        self.runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await self.runner.setup()
        try:  # https: the certificate is made (once) or loaded off the event loop
            cert = await asyncio.to_thread(tls.certificate, w, tls.state_dir(self.environ))
            ssl_context = tls.context(cert) if cert is not None else None
        except tls.TlsError as exc:
            await self._not_served(f"{exc}; the web surface is not served (fix it, or set web.tls = \"off\")")
            return
        site = web.TCPSite(self.runner, w.host, w.port, ssl_context=ssl_context)
        try:
            await site.start()
        except OSError as exc:
            await self._not_served(f"cannot listen on {w.host}:{w.port} ({exc.strerror}); set web.port or "
                                   "web.enabled = false")
            return
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else w.port
        log.info("web: listening on %s://%s:%d/", "https" if cert else "http", w.host, self.port)
        if cert is not None:
            log.info("web: certificate %s, SHA-256 fingerprint %s", cert.cert_file, cert.fingerprint)

    async def _not_served(self, message: str) -> None:
        """The surface cannot start: say why (an ``error`` event); the assistant runs on without it."""
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None
        log.error("web: %s", message)
        self.control.bus.publish(Error(where="web", message=message))

    async def stop(self) -> None:
        floor = self.control.remote_floor() if hasattr(self, "control") else None
        if floor is not None and floor.session is not None:
            floor.end(floor.session, "the daemon stops")
        if self.webrtc is not None:
            await self.webrtc.close()
        for client in list(self.clients):
            self._drop(client, count=False)
        if self.runner is not None:
            await self.runner.cleanup()

    # ------------------------------------------------------------ events
    def _on_event(self, e: Event) -> None:
        self.status.on_event(e)
        if not self.clients:
            return
        text = e.to_json()
        for client in list(self.clients):
            if not client.offer(text):
                log.warning("web: a WebSocket client fell behind; disconnecting it")
                self._drop(client)

    def _drop(self, client: _Client, count: bool = True) -> None:
        if client.dropped:
            return
        client.dropped = True
        self.dropped_clients += count
        self.clients.discard(client)
        transport = client.request.transport
        if transport is not None:
            transport.abort()  # no close handshake: it would wait on the slow client

    # ------------------------------------------------------------ HTTP
    @web.middleware
    async def _check_host(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """Before anything is served: the Host header must name this server."""
        header = request.headers.get("Host")
        if not host_allowed(header, self.wcfg.host, self.wcfg.allowed_hosts):
            name = host_name(header or "")[:100]
            log.warning("web: refused a request for host %r (not in web.allowed_hosts)", name)
            return web.Response(status=421, text=(
                f"panikid does not answer to the host name {name!r}: allowed are localhost, 127.0.0.1, "
                "::1, web.host and the names in web.allowed_hosts (add the name you use there)\n"))
        response: web.StreamResponse = await handler(request)
        return response

    def _authorized(self, request: web.Request) -> bool:
        if not self.token:
            return True
        header = request.headers.get("Authorization", "")
        given = header[7:] if header.startswith("Bearer ") else request.query.get("token", "")
        return hmac.compare_digest(given.encode(), self.token.encode())

    def _origin_ok(self, request: web.Request) -> bool:
        origin = request.headers.get("Origin")
        if origin is None:
            return True  # not a browser
        own = {f"http://{request.host}", f"https://{request.host}"}
        return origin in own or origin in self.wcfg.allowed_origins

    def _guard(self, request: web.Request) -> None:
        if not self._origin_ok(request):
            raise web.HTTPForbidden(text=f"origin {request.headers.get('Origin')!r} is not allowed "
                                         "(add it to web.allowed_origins)\n")
        if not self._authorized(request):
            raise web.HTTPUnauthorized(text="a valid token is required (Authorization: Bearer, or ?token=)\n")

    async def _page(self, request: web.Request) -> web.Response:
        html = resources.files(__package__).joinpath("static/status.html").read_text(encoding="utf-8")
        return web.Response(text=html, content_type="text/html")

    async def _talk_js(self, request: web.Request) -> web.Response:
        js = resources.files(__package__).joinpath("static/talk.js").read_text(encoding="utf-8")
        return web.Response(text=js, content_type="text/javascript")

    async def _audio_info(self, request: web.Request) -> web.Response:
        """What the page may use to talk: the WebSocket audio always (when sessions are on), WebRTC when
        aiortc is installed."""
        self._guard(request)
        floor = self.control.remote_floor()
        why_not = self.webrtc_missing
        return web.json_response({
            "sessions": floor is not None, "websocket": floor is not None,
            "webrtc": floor is not None and why_not is None, "webrtc_missing": why_not,
            "busy": floor is not None and floor.session is not None,
            "sample_rate": 16000, "timeout_seconds": floor.deadline if floor else None})

    async def _webrtc_offer(self, request: web.Request) -> web.Response:
        self._guard(request)
        why_not = self.webrtc_missing
        if why_not is not None:
            raise web.HTTPNotImplemented(text=why_not + "\n")
        body = await request.content.read(MAX_OFFER_BYTES + 1)
        if len(body) > MAX_OFFER_BYTES:
            raise web.HTTPRequestEntityTooLarge(max_size=MAX_OFFER_BYTES, actual_size=len(body))
        try:
            offer = json.loads(body)
        except ValueError as exc:
            raise web.HTTPBadRequest(text=f"the offer must be JSON ({exc})\n") from None
        if not (isinstance(offer, dict) and offer.get("type") == "offer" and isinstance(offer.get("sdp"), str)):
            raise web.HTTPBadRequest(text='the offer must be {"type": "offer", "sdp": "<SDP text>"}\n')
        session = open_session(self.control.remote_floor(), "webrtc", peer_of(request), webrtc.RTC_RATE)
        floor = self.control.remote_floor()
        assert floor is not None
        if self.webrtc is None:
            self.webrtc = webrtc.WebRtcSessions()
        try:
            answer = await self.webrtc.answer(offer, session, floor)
        except Exception as exc:
            log.warning("web: a WebRTC offer could not be answered: %s", exc)
            raise web.HTTPBadRequest(text=f"the offer could not be answered: {exc}\n") from None
        return web.json_response({**answer, "session": session.id})

    async def _healthz(self, request: web.Request) -> web.Response:
        now = self.control.bus.now()
        state = self.control.current_state()
        return web.json_response({"ok": state != "error", "state": state,
                                  "uptime": round(now - self.status.started, 1)})

    async def _metrics(self, request: web.Request) -> web.Response:
        self._guard(request)
        text = self.status.prometheus(self.control.bus.now(), dropped=self.dropped_clients,
                                      escaped=ev.unencodable.count)
        return web.Response(text=text, content_type="text/plain", charset="utf-8",
                            headers={"X-Content-Type-Options": "nosniff"})

    # ------------------------------------------------------------ WebSocket
    async def _ws(self, request: web.Request) -> web.WebSocketResponse:
        self._guard(request)
        ws = CheckedWebSocketResponse(max_msg_size=self.wcfg.max_message_bytes, heartbeat=30.0)
        await ws.prepare(request)
        sock = request.transport.get_extra_info("socket") if request.transport else None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)
            request.transport.set_write_buffer_limits(high=SEND_BUFFER_BYTES)  # type: ignore[union-attr]
        client = _Client(request, ws, self.wcfg.client_queue)
        shown = settings.snapshot(self.control.settings())
        snapshot = {"type": "snapshot", **self.status.snapshot(self.control.bus.now(), shown)}
        snapshot["state"] = self.control.current_state()
        client.offer(dumps(snapshot))
        self.clients.add(client)
        sender = asyncio.create_task(self._send_loop(client))
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    reply = self._command(msg.data)
                elif msg.type == WSMsgType.BINARY:
                    reply = self.handler.error("binary messages are not accepted: send JSON text", "websocket")
                else:
                    if msg.type == WSMsgType.ERROR:  # a protocol error: aiohttp closed with its code
                        log.warning("web: closed a WebSocket: %s", msg.data)
                    break
                if not client.offer(dumps({"type": "ack", **reply})):
                    self._drop(client)
                    break
        finally:
            self.clients.discard(client)
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
        return ws

    def _command(self, text: str) -> dict[str, Any]:
        try:
            data = load_json(decode(text))
        except CommandError as exc:
            return self.handler.error(str(exc), "websocket")
        ident = request_id(data)
        reply = self.handler.handle_data(data, "websocket", ident)
        if ident is not None:
            reply["id"] = ident
        return reply

    async def _send_loop(self, client: _Client) -> None:
        try:
            while not client.dropped:
                text = await client.queue.get()
                async with asyncio.timeout(SEND_DEADLINE):
                    await client.ws.send_str(text)
        except (TimeoutError, ConnectionError, RuntimeError):
            self._drop(client)
        except Exception:  # never a sender that died quietly with its client still connected
            log.exception("web: cannot send to a WebSocket client; disconnecting it")
            self._drop(client, count=False)
