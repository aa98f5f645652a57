"""Wake arbitration's channel on the MQTT broker: the claims of one group, on one shared topic.

Every device of ``mqtt.arbitration_group`` publishes its wake claims on
``<topic_prefix>/arbitration/<group>`` (QoS 1, not retained: a claim is worth something for a
fraction of a second) and hears everyone's there, its own included (the arbiter leaves those out).
The broker is the only thing the devices share: there is no arbitration server.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from .topics import arbitration_topic

if TYPE_CHECKING:
    from .surface import MqttSurface

CLAIM_QOS = 1
"""Claims are delivered at least once: a lost one would let two devices answer."""


class MqttClaimChannel:
    """The arbiter's ``ClaimChannel`` (panikid.speech.wake.arbiter) on the MQTT surface."""

    def __init__(self, surface: MqttSurface, prefix: str, group: str) -> None:
        self.surface = surface
        self.topic = arbitration_topic(prefix, group)

    def connected(self) -> bool:
        return self.surface.is_connected()

    def publish(self, payload: str) -> None:
        self.surface.publish(self.topic, payload, qos=CLAIM_QOS)

    def listen(self, on_message: Callable[[bytes], None]) -> None:
        """Every claim of the group (from now on, and after each reconnect) to ``on_message``."""
        self.surface.listen(self.topic, CLAIM_QOS, on_message)
