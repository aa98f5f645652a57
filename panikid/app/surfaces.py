"""The surfaces a configuration asks for (MQTT, WebSocket/HTTP, systemd notify).

Each surface subscribes to the daemon's event bus and acts through the control
API (panikid.control.api), its commands through the daemon's one command
handler; none of them can stall the voice loop.
"""

from __future__ import annotations

from ..config import Config
from ..control.api import Surface


def build_surfaces(cfg: Config) -> list[Surface]:
    surfaces: list[Surface] = []
    if cfg.mqtt.enabled:
        from ..control.mqtt.surface import MqttSurface

        surfaces.append(MqttSurface(cfg))
    if cfg.web.enabled:
        from ..control.web.surface import WebSurface

        surfaces.append(WebSurface(cfg))
    from ..service.notify import Notifier

    notifier = Notifier()
    if notifier.enabled:  # run by systemd (Type=notify)
        from ..service.surface import SystemdSurface
        from ..service.watchdog import WatchdogPolicy

        surfaces.append(SystemdSurface(cfg.service.watchdog, WatchdogPolicy(cfg.service.audio_timeout_seconds),
                                       notifier))
    return surfaces
