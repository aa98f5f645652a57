"""panikid as a Home Assistant Assist satellite (the Wyoming protocol, ``[satellite]``).

Home Assistant's Wyoming integration connects to the satellite (found by zeroconf, ``_wyoming._tcp``),
asks what it is (``describe`` -> ``info``) and starts it (``run-satellite``). From then on a wake word
panikid hears starts Home Assistant's Assist pipeline: panikid sends the detection, a ``run-pipeline``
from speech-to-text to text-to-speech and the cleaned microphone audio; Home Assistant sends back what
it heard, what it will say and the reply's audio, which panikid plays and confirms (``played``).
panikid's wake word and audio front end, Home Assistant's brains. While Home Assistant is not connected
(or has paused the satellite), the local pipeline answers as ever.

* :mod:`.peers`: who may connect (pure);
* :mod:`.describe`: what the satellite says it is (pure);
* :mod:`.link`: the TCP server and Home Assistant's connections (I/O);
* :mod:`.announce`: the zeroconf announcement (I/O);
* :mod:`.processor`: the pipeline stage after the wake word that hands turns to Home Assistant.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..config import Config
    from .processor import SatelliteProcessor


def build_stage(cfg: Config, wake_words: Callable[[], Sequence[str]]) -> SatelliteProcessor:
    """The satellite's pipeline stage for ``[satellite]``; ``wake_words``: the wake words listened for now."""
    from .announce import Announcer
    from .describe import satellite_info
    from .link import SatelliteLink
    from .peers import PeerPolicy
    from .processor import SatelliteProcessor

    s = cfg.satellite
    name = s.name or cfg.general.device_id
    holder: list[SatelliteProcessor] = []
    link = SatelliteLink(s.host, s.port, PeerPolicy(s.allowed_peers),
                         lambda: satellite_info(name, s.area, list(wake_words()), cfg.stt.language),
                         lambda body: holder[0].events.publish(body))
    stage = SatelliteProcessor(link, s.max_listen_seconds,
                               Announcer(cfg.general.device_id, s.host) if s.zeroconf else None)
    holder.append(stage)
    return stage
