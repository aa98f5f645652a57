"""The MQTT surface: state and events out, commands in, Home Assistant discovery.

paho-mqtt runs its network loop in its own thread (``loop_start``) and hands
every incoming message to asyncio with ``call_soon_threadsafe``. The voice loop
never waits on MQTT: events reach this surface through a bounded subscription
and ``publish`` only enqueues. paho reconnects by itself; before each attempt
the delay is set from :func:`~panikid.control.mqtt_topics.backoff_delay`
(capped, jittered). Topic layout and QoS: :mod:`panikid.control.mqtt.topics`;
the retained settings come from the one table, :mod:`panikid.control.settings`.
Commands go to the daemon's one command handler (the control API's ``commands``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from ...config import Config
from ...events import Event, dumps, encodable
from ...events.schema import AudioStopped, Error, TurnAbandoned
from ...secrets import read_secret
from ..commands import decode
from ..schema import CommandError, load_json, request_id
from ..settings import SETTINGS
from ..web.status import Status
from . import hermes
from .discovery import discovery_payload, discovery_topic
from .topics import COMMAND_TOPICS, Message, Topics, ack_message, backoff_delay, messages_for

if TYPE_CHECKING:
    from ..api import ControlApi

log = logging.getLogger(__name__)

PASSWORD_ENV = "PANIKID_MQTT_PASSWORD"


class MqttConfigError(Exception):
    """The MQTT settings cannot be used (missing password file, bad CA file)."""


class MqttSurface:
    def __init__(self, cfg: Config, environ: Mapping[str, str] | None = None) -> None:
        self.cfg = cfg
        self.mcfg = cfg.mqtt
        self.environ = os.environ if environ is None else environ
        self.device_id = cfg.general.device_id
        self.topics = Topics(self.mcfg.topic_prefix, self.device_id)
        self.status = Status()
        self.client: mqtt.Client | None = None
        self.connected = asyncio.Event()
        self.connects = 0
        self._attempt = 0
        self._session_up = False  # paho thread only: CONNACK accepted, not lost since
        self._last_error = ""
        self._hermes_says: dict[int, hermes.HermesRequest] = {}  # turn -> the hermes/tts/say it speaks
        self._listeners: dict[str, tuple[int, Callable[[bytes], None]]] = {}  # topic -> (QoS, on message)
        self._pump: asyncio.Task[None] | None = None

    # ------------------------------------------------------------ lifecycle
    async def start(self, control: ControlApi) -> None:
        self.control = control
        self.loop = asyncio.get_running_loop()
        self._wake_words = control.wake_words()  # the wake word select's options, as the device starts
        self.handler = control.commands
        m = self.mcfg
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=m.client_id or f"panikid-{self.device_id}",
                             protocol=mqtt.MQTTv311)
        if m.username:
            password = read_secret(PASSWORD_ENV, m.password_file, self.environ, "mqtt.password_file",
                                   credential="mqtt_password")
            client.username_pw_set(m.username, password)
        if m.tls:
            try:
                client.tls_set(ca_certs=m.ca_file or None)
            except (OSError, ValueError) as exc:
                raise MqttConfigError(f"mqtt.ca_file: cannot use {m.ca_file!r}: {exc}") from None
        client.will_set(self.topics.availability, "offline", qos=m.qos_state, retain=True)
        client.max_queued_messages_set(1000)
        client.reconnect_delay_set(1, 1)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_connect_fail = self._on_connect_fail
        client.on_message = self._on_message
        self.client = client
        sub = control.bus.subscribe(maxsize=1000)
        self._sub = sub
        self._pump = asyncio.create_task(self._publish_events())
        client.connect_async(m.host, m.port, keepalive=m.keepalive)
        client.loop_start()
        log.info("MQTT: connecting to %s:%d as %s", m.host, m.port, m.username or "anonymous")

    async def stop(self) -> None:
        client = self.client
        if client is None:
            return
        self._sub.close()
        if self._pump is not None:
            self._pump.cancel()
        if client.is_connected():
            info = client.publish(self.topics.availability, "offline", qos=self.mcfg.qos_state, retain=True)
            with contextlib.suppress(Exception):
                await asyncio.to_thread(info.wait_for_publish, 1.0)
        client.disconnect()
        await asyncio.to_thread(client.loop_stop)

    # ------------------------------------------------------------ paho thread
    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            self._schedule_retry()
            self.loop.call_soon_threadsafe(self._report, f"the broker refused the connection: {reason}"
                                           + (" (check mqtt.username and the password)"
                                              if "authori" in str(reason).lower() or "password" in str(reason).lower()
                                              else ""))
            return
        self._attempt = 0
        self._session_up = True
        client.reconnect_delay_set(1, 1)
        subs = [(self.topics.command(t), self.mcfg.qos_command) for t in COMMAND_TOPICS]
        if self.mcfg.discovery_prefix:
            subs.append((f"{self.mcfg.discovery_prefix}/status", self.mcfg.qos_command))
        if self.mcfg.hermes:
            subs += [(topic, self.mcfg.qos_command) for topic in hermes.SUBSCRIPTIONS]
        client.subscribe(subs)
        self.loop.call_soon_threadsafe(self._connected)

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        self._schedule_retry()
        self.loop.call_soon_threadsafe(self.connected.clear)
        was_up, self._session_up = self._session_up, False
        if was_up and reason.is_failure:  # not after a refused CONNACK: that was reported
            self.loop.call_soon_threadsafe(self._report, f"lost the broker connection ({reason}), reconnecting")

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        self._schedule_retry()
        m = self.mcfg
        self.loop.call_soon_threadsafe(self._report, f"cannot reach the broker at {m.host}:{m.port}, retrying")

    def _schedule_retry(self) -> None:
        delay = backoff_delay(self._attempt, self.mcfg.reconnect_max_seconds)
        self._attempt += 1
        if self.client is not None:
            # paho waits ``min_delay`` before its next attempt once the delay was reset.
            self.client.reconnect_delay_set(max(0.05, delay), max(0.05, delay))  # type: ignore[arg-type]

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        self.loop.call_soon_threadsafe(self._handle, msg.topic, bytes(msg.payload), bool(msg.retain))

    # ------------------------------------------------------------ event loop
    def _report(self, message: str) -> None:
        if message == self._last_error:
            return  # once per distinct problem, not once per retry
        self._last_error = message
        log.error("MQTT: %s", message)
        self.control.bus.publish(Error(where="mqtt", message=message))

    def _connected(self) -> None:
        self.connects += 1
        self._last_error = ""
        log.info("MQTT: connected to %s:%d", self.mcfg.host, self.mcfg.port)
        if self._listeners and self.client is not None:  # here, on the loop: listen() cannot slip between
            self.client.subscribe([(topic, qos) for topic, (qos, _) in self._listeners.items()])
        self._publish_all()
        self.connected.set()

    def _handle(self, topic: str, payload: bytes, retained: bool) -> None:
        try:
            self._dispatch(topic, payload, retained)
        except Exception as exc:  # a message never takes the surface down; it is reported
            log.exception("MQTT: failed on a message on %r", topic[:100])
            self.control.bus.publish(Error(where="mqtt", message=f"{topic[:100]}: {type(exc).__name__}"))

    def _dispatch(self, topic: str, payload: bytes, retained: bool) -> None:
        listener = self._listeners.get(topic)
        if listener is not None:
            if not retained:  # a retained message is old news, whatever it says
                listener[1](payload)
            return
        if self.mcfg.hermes and topic in hermes.SUBSCRIPTIONS:
            if not retained:
                self._hermes(topic, payload)
            return
        if self.mcfg.discovery_prefix and topic == f"{self.mcfg.discovery_prefix}/status":
            if payload.strip() == b"online":
                self._publish_discovery()
            return
        name = self.topics.command_name(topic)
        if name is None:
            return
        if not payload:
            # An empty payload is how a retained message is cleared from the broker.
            log.debug("MQTT: ignored an empty message on %s", topic)
            return
        if retained:
            # A retained command would fire again on every reconnect.
            self.handler.error(f"ignored a retained message on {topic}: commands must not be retained", "mqtt")
            return
        ident = _payload_id(payload)
        reply = self.handler.handle_short(name, payload, "mqtt", ident)
        if ident is not None:
            self._send(ack_message(self.topics, ident, reply))

    def _hermes(self, topic: str, payload: bytes) -> None:
        try:
            request = hermes.parse(topic, payload, self.device_id)
        except CommandError as exc:
            self.handler.error(str(exc), "hermes")
            return
        if request is None:
            return  # for another site
        if request.kind == "say":
            result = self.handler.handle_json(json.dumps({"command": "say", "text": request.text}), "hermes")
            if result.get("ok") and result.get("turn"):
                self._hermes_says[int(result["turn"])] = request
        else:
            self.handler.handle_short("mute", "ON" if request.kind == "mute" else "OFF", "hermes")

    def _hermes_events(self, e: Event) -> None:
        for topic, payload in hermes.outgoing(e, self.device_id):
            self._send(Message(topic, payload, False, "event"))
        if isinstance(e.body, (AudioStopped, TurnAbandoned)):
            request = self._hermes_says.pop(int(e.body.turn or 0), None)
            if request is not None:
                self._send(Message(*hermes.say_finished(request, self.device_id), False, "event"))

    def publish(self, topic: str, payload: str, qos: int | None = None) -> None:
        """User actions (``intents.actions``), wake claims: publish to any topic, not retained, at ``qos``
        (default ``qos_command``).

        Raises when there is no broker connection, so the assistant says it could not do it."""
        if not self.is_connected():
            raise RuntimeError(f"not connected to the MQTT broker, {topic} was not published")
        assert self.client is not None
        self.client.publish(topic, payload, qos=self.mcfg.qos_command if qos is None else qos, retain=False)

    def is_connected(self) -> bool:
        """The broker accepted the connection and it has not been lost since (as far as is known)."""
        return self.client is not None and self.connected.is_set()

    def listen(self, topic: str, qos: int, on_message: Callable[[bytes], None]) -> None:
        """Hand every message on ``topic`` (not retained) to ``on_message``, on the event loop, from now on
        and after every reconnect."""
        self._listeners[topic] = (qos, on_message)
        if self.client is not None and self.is_connected():
            self.client.subscribe(topic, qos)

    def _send(self, msg: Message) -> None:
        if self.client is None:
            return
        qos = self.mcfg.qos_state if msg.kind == "state" else self.mcfg.qos_event
        # Encoded here, so a payload paho could not encode (a lone surrogate) is escaped, not raised.
        payload = encodable(msg.payload).encode("utf-8")
        try:
            self.client.publish(msg.topic, payload, qos=qos, retain=msg.retain)
        except (ValueError, TypeError) as exc:  # a topic paho refuses: report it, keep publishing
            log.error("MQTT: cannot publish to %r: %s", msg.topic[:100], exc)

    def _publish_discovery(self) -> None:
        if not self.mcfg.discovery_prefix:
            return
        payload = discovery_payload(self.device_id, self.topics, self.mcfg.qos_state, self._wake_words)
        self._send(Message(discovery_topic(self.mcfg.discovery_prefix, self.device_id),
                           json.dumps(payload), True, "state"))

    def _publish_all(self) -> None:
        """Everything retained, as it is now (after every (re)connect)."""
        t, c, s = self.topics, self.control, self.status
        self._send(Message(t.availability, "online", True, "state"))
        self._publish_discovery()
        self._send(Message(t.state, c.current_state(), True, "state"))
        self._send(Message(t.attributes, dumps(s.attributes()), True, "state"))
        current = c.settings()
        for setting in SETTINGS:
            self._send(Message(t.setting(setting.name), setting.payload(setting.of_settings(current)), True, "state"))

    async def _publish_events(self) -> None:
        while (e := await self._sub.get()) is not None:
            try:
                self._publish_event(e)
            except Exception:  # one odd event must not end the event topic for good
                log.exception("MQTT: cannot publish a %s event", e.type)

    def _publish_event(self, e: Event) -> None:
        self.status.on_event(e)
        if self.client is None or not self.client.is_connected():
            return  # the retained state is republished on reconnect
        for msg in messages_for(e, self.topics, self.status.attributes()):
            self._send(msg)
        if self.mcfg.hermes:
            self._hermes_events(e)


def _payload_id(payload: bytes) -> str | int | None:
    """The ``id`` of a command's JSON form, when it has a usable one (the plain forms have none)."""
    if not payload.lstrip().startswith(b"{"):
        return None
    try:
        return request_id(load_json(decode(payload)))
    except CommandError:
        return None
