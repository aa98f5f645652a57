"""Remove this device from the broker: ``python -m panikid.control.mqtt.forget [--config FILE]``.

Clears every retained message panikid left (Home Assistant's discovery document,
availability, state, attributes, settings), so the device disappears from Home
Assistant. ``scripts/install --uninstall`` runs it before removing the program.
Exit status: 0 done (or MQTT not enabled), 1 the broker could not be reached.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from ... import config as config_mod
from ...config import Config
from ...secrets import read_secret
from .. import settings
from .discovery import discovery_topic
from .surface import PASSWORD_ENV
from .topics import Topics

SETTINGS = tuple(s.name for s in settings.SETTINGS)
"""The retained ``<name>/state`` topics of the runtime settings."""


def retained_topics(cfg: Config) -> list[str]:
    t = Topics(cfg.mqtt.topic_prefix, cfg.general.device_id)
    topics = [t.availability, t.state, t.attributes, *(t.setting(s) for s in SETTINGS)]
    if cfg.mqtt.discovery_prefix:
        topics.insert(0, discovery_topic(cfg.mqtt.discovery_prefix, cfg.general.device_id))
    return topics


def forget(cfg: Config, timeout: float = 10.0) -> list[str]:
    """Publish an empty retained message on each topic; returns the topics cleared."""
    m = cfg.mqtt
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"panikid-{cfg.general.device_id}-forget",
                         protocol=mqtt.MQTTv311)
    if m.username:
        client.username_pw_set(m.username, read_secret(PASSWORD_ENV, m.password_file, os.environ,
                                                       "mqtt.password_file", credential="mqtt_password"))
    if m.tls:
        client.tls_set(ca_certs=m.ca_file or None)
    connected = threading.Event()

    def on_connect(client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if not reason.is_failure:
            connected.set()

    client.on_connect = on_connect
    client.connect(m.host, m.port, keepalive=30)
    client.loop_start()
    try:
        if not connected.wait(timeout):
            raise ConnectionError(f"the broker at {m.host}:{m.port} did not accept the connection")
        topics = retained_topics(cfg)
        for topic in topics:
            client.publish(topic, b"", qos=1, retain=True).wait_for_publish(timeout)
        return topics
    finally:
        client.disconnect()
        client.loop_stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m panikid.control.mqtt.forget", description=__doc__.splitlines()[0])
    parser.add_argument("--config", metavar="FILE")
    args = parser.parse_args(argv)
    try:
        cfg = config_mod.load(args.config)
    except config_mod.ConfigError as exc:
        print(f"panikid: invalid configuration: {exc}", file=sys.stderr)
        return 2
    if not cfg.mqtt.enabled:
        print("MQTT is not enabled: nothing to remove from a broker")
        return 0
    try:
        topics = forget(cfg)
    except (OSError, ConnectionError, ValueError, RuntimeError) as exc:
        print(f"panikid: could not remove the device from the broker: {exc}", file=sys.stderr)
        return 1
    print(f"removed {cfg.general.device_id} from the broker ({len(topics)} retained topics cleared)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
