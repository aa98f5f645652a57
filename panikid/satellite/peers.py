"""Who may connect to the satellite (``satellite.allowed_peers``): the Wyoming protocol has no
authentication, so the address is all there is to go by."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class PeerPolicy:
    """With no networks configured: loopback and private (LAN) addresses only; else only those given."""

    def __init__(self, allowed: Sequence[str] = ()) -> None:
        self.networks: list[Network] = [ipaddress.ip_network(a, strict=False) for a in allowed]

    def refusal(self, host: str) -> str | None:
        """Why a peer at ``host`` is refused, or None when it may connect."""
        try:
            addr = ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return f"{host!r} is not an IP address"
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped
        if self.networks:
            if any(addr in net for net in self.networks):
                return None
            return f"{addr} is not in satellite.allowed_peers"
        if addr.is_loopback or addr.is_private or addr.is_link_local:
            return None
        return f"{addr} is not a loopback or private address (list it in satellite.allowed_peers to allow it)"
