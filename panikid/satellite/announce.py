"""The satellite's zeroconf (mDNS) announcement, ``<name>._wyoming._tcp.local.``: what Home Assistant's
Wyoming integration looks for to offer "Discovered: panikid" (``satellite.zeroconf``)."""

from __future__ import annotations

import ipaddress
import logging
import socket
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

log = logging.getLogger(__name__)

SERVICE_TYPE = "_wyoming._tcp.local."


def addresses(host: str) -> list[str]:
    """The IPv4 addresses to announce: ``host`` itself, or for 0.0.0.0 every address of the machine but
    loopback (loopback only when it has no other)."""
    if host not in ("", "0.0.0.0", "::"):
        return [host]
    import ifaddr

    found = [str(ip.ip) for adapter in ifaddr.get_adapters() for ip in adapter.ips if isinstance(ip.ip, str)]
    outside = [a for a in found if not ipaddress.ip_address(a).is_loopback]
    return outside or found or ["127.0.0.1"]


class Announcer:
    def __init__(self, instance: str, host: str) -> None:
        self.instance = instance
        """The service's instance name (a DNS label: letters, digits, - and _)."""
        self.host = host
        self._zc: AsyncZeroconf | None = None
        self._info: AsyncServiceInfo | None = None

    async def start(self, port: int) -> None:
        """Announce; a network that cannot carry mDNS is logged (Home Assistant can still be given the
        address and port by hand)."""
        from zeroconf import IPVersion
        from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

        addrs = addresses(self.host)
        info = AsyncServiceInfo(SERVICE_TYPE, f"{self.instance}.{SERVICE_TYPE}", port=port,
                                addresses=[socket.inet_aton(a) for a in addrs], server=f"{self.instance}.local.")
        try:
            zc = AsyncZeroconf(ip_version=IPVersion.V4Only)
            await zc.async_register_service(info, allow_name_change=True)
        except Exception as exc:  # zeroconf raises several kinds on a network without multicast
            log.warning("satellite: cannot announce it with zeroconf (%s: %s); add it in Home Assistant by "
                        "address and port instead", type(exc).__name__, exc)
            return
        self._zc, self._info = zc, info
        log.info("satellite: announced as %s on %s port %d", info.name, ", ".join(addrs), port)

    async def stop(self) -> None:
        zc, info, self._zc, self._info = self._zc, self._info, None, None
        if zc is None or info is None:
            return
        try:
            await zc.async_unregister_service(info)
            await zc.async_close()
        except Exception as exc:
            log.info("satellite: zeroconf did not close cleanly: %s", exc)
