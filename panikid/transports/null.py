"""An output that plays nothing: replies are still produced and evented (``run --input`` without ``--output``)."""

from __future__ import annotations

from .base import OutputTransport


class NullOutputTransport(OutputTransport):
    def __init__(self) -> None:
        super().__init__(name="NullOutput")

    async def write(self, pcm: bytes, sample_rate: int) -> None:
        return None
