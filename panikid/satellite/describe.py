"""What the satellite tells Home Assistant it is (Wyoming ``info``, the answer to ``describe``).

Home Assistant adopts a Wyoming service as a satellite when its ``info`` has an installed ``satellite``;
the ``wake`` program lists panikid's wake words, so Home Assistant can tell which phrase woke which device.
"""

from __future__ import annotations

from collections.abc import Sequence

from wyoming.info import Attribution, Info, Satellite, WakeModel, WakeProgram

from .. import __version__

ATTRIBUTION = Attribution(name="panikid", url="https://pypi.org/project/panikid/")


def phrase(model: str) -> str:
    """The phrase a wake word model stands for: ``okay_nabu`` -> ``okay nabu``."""
    return model.replace("_", " ").strip()


def satellite_info(name: str, area: str, wake_words: Sequence[str], language: str) -> Info:
    models = [WakeModel(name=w, attribution=ATTRIBUTION, installed=True, description=phrase(w), version=None,
                        languages=[language], phrase=phrase(w)) for w in wake_words]
    return Info(
        satellite=Satellite(
            name=name, attribution=ATTRIBUTION, installed=True, description="panikid voice assistant",
            version=__version__, area=area or None, has_vad=False, active_wake_words=list(wake_words),
            max_active_wake_words=len(wake_words), supports_trigger=False,
        ),
        wake=[WakeProgram(name="panikid-wake", attribution=ATTRIBUTION, installed=True,
                          description="panikid's wake words", version=__version__, models=models)],
    )
