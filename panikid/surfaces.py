"""The surfaces a configuration asks for (MQTT, WebSocket/HTTP, systemd notify).

Each surface subscribes to the daemon's event bus and acts through its control
methods; none of them can stall the voice loop.
"""

from __future__ import annotations

from .config import Config
from .daemon import Surface


def build_surfaces(cfg: Config) -> list[Surface]:
    surfaces: list[Surface] = []
    return surfaces
