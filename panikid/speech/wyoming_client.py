"""One exchange with a Wyoming server (speech-to-text, text-to-speech), with deadlines, from a worker thread.

The speech engines are called in their processor's worker thread and block there; the ``wyoming`` client is
asyncio, so each exchange runs on a fresh event loop in that thread (``run``): one connection per utterance
or sentence, as the Wyoming servers expect (wyoming-faster-whisper closes the connection after each
transcript). Every way an exchange can fail becomes a ``RemoteError`` with a short reason, so the engine can
fall back to its local engine and say why.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from types import TracebackType
from typing import Any, TypeVar

from wyoming.client import AsyncTcpClient
from wyoming.error import Error
from wyoming.event import Event, Eventable

log = logging.getLogger(__name__)

T = TypeVar("T")


class RemoteError(Exception):
    """The server did not answer as it should; ``reason`` is one word for the logs."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def run(exchange: Coroutine[Any, Any, T]) -> T:
    """Run one exchange to its end on a fresh event loop in this thread (a worker thread: never the
    daemon's loop)."""
    return asyncio.run(exchange)


class Connection:
    """``async with Connection(host, port, connect_seconds) as c``: one TCP connection to the server."""

    def __init__(self, host: str, port: int, connect_seconds: float) -> None:
        self.host, self.port = host, port
        self.where = f"tcp://{host}:{port}"
        self._client = AsyncTcpClient(host, port)
        self._connect_seconds = connect_seconds

    async def __aenter__(self) -> Connection:
        try:
            await asyncio.wait_for(self._client.connect(), self._connect_seconds)
        except TimeoutError:
            raise RemoteError("timeout", f"no connection to {self.where} within {self._connect_seconds:.1f} s") \
                from None
        except OSError as exc:  # refused, no route, unknown host
            raise RemoteError("unavailable", f"cannot connect to {self.where}: {exc.strerror or exc}") from None
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        try:
            await asyncio.wait_for(self._client.disconnect(), 1.0)
        except (OSError, TimeoutError):
            pass  # the server went away first: nothing left to close

    async def send(self, message: Eventable) -> None:
        try:
            await self._client.write_event(message.event())
        except OSError as exc:
            raise RemoteError("closed", f"{self.where} closed the connection: {exc}") from None

    async def receive(self, timeout: float, waiting_for: str) -> Event:
        """The server's next event within ``timeout`` s; a RemoteError when it is late, closes the
        connection, sends something unreadable or an error."""
        try:
            event = await asyncio.wait_for(self._client.read_event(), max(0.0, timeout))
        except TimeoutError:
            raise RemoteError("timeout", f"no {waiting_for} from {self.where} within {timeout:.1f} s") from None
        except (OSError, asyncio.IncompleteReadError) as exc:
            raise RemoteError("closed", f"{self.where} closed the connection before the {waiting_for}: {exc}") \
                from None
        if event is None:
            raise RemoteError("closed", f"{self.where} closed the connection before the {waiting_for}")
        if Error.is_type(event.type):
            error = Error.from_event(event)
            raise RemoteError("server_error", f"{self.where} answered with an error: {error.text}")
        return event


async def _describe(host: str, port: int, timeout: float) -> Any:
    from wyoming.info import Describe, Info

    async with asyncio.timeout(timeout):
        async with Connection(host, port, timeout) as server:
            await server.send(Describe())
            while True:
                event = await server.receive(timeout, "info")
                if Info.is_type(event.type):
                    return Info.from_event(event)


def describe(host: str, port: int, timeout: float = 3.0) -> Any:
    """What the server says it offers (``wyoming.info.Info``), within ``timeout`` s; a RemoteError otherwise
    (blocking: for ``panikid check``)."""
    try:
        return run(_describe(host, port, timeout))
    except TimeoutError:
        raise RemoteError("timeout", f"no info from tcp://{host}:{port} within {timeout:.1f} s") from None
