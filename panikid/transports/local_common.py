"""What the local microphone and speaker share: starting PortAudio safely, choosing a device by its
configured name, and finding it again after it was lost (``find_again``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from ..audio.devices import AudioDeviceError, DeviceInfo, probe, resolve_device
from .local_backends import Backend, Stream, get_backend

log = logging.getLogger(__name__)

STALL_SECONDS = 3.0
"""A stream that delivers (or takes) nothing for this long has lost its device (unplugged, server gone)."""
OPEN_TIMEOUT = 15.0
RETRY_SECONDS = 2.0
"""How often a lost device is looked for again."""


def open_backend(name: str) -> Backend:
    probe(name)  # raises a clear NoAudioDevicesError instead of letting PortAudio abort us
    return get_backend(name)


def pick(backend: Backend, spec: str, kind: str) -> DeviceInfo:
    return resolve_device(spec, kind, backend.devices())


def find_again(backend: Backend, spec: str, kind: str) -> DeviceInfo:
    """The device ``spec`` names as this machine has it now (blocking: run it in a thread).

    The device list comes fresh from a child process. A device PortAudio did not
    know when it started (plugged back in as another card) needs PortAudio restarted
    (``Backend.refresh``), which closes this process's other streams: they reopen.
    """
    now = resolve_device(spec, kind, probe(backend.name, fresh=True))

    def known() -> DeviceInfo | None:
        return next((d for d in backend.devices() if d.name == now.name and d.channels(kind) > 0), None)

    found = known()
    if found is None:
        log.info("%s device %r is new to PortAudio: restarting it", kind, now.name)
        backend.refresh()
        found = known()
    if found is None:
        raise AudioDeviceError(f"{kind} device {now.name!r} is listed, but PortAudio does not see it")
    return found


def lost_message(kind: str, name: str, exc: BaseException) -> str:
    role = "capture" if kind == "input" else "playback"
    return f"{role} device {name!r} is gone ({exc}); looking for it every {RETRY_SECONDS:g} s"


async def close_stream(stream: Stream | None) -> None:
    if stream is None:
        return
    with contextlib.suppress(Exception):
        await asyncio.wait_for(asyncio.to_thread(stream.close), OPEN_TIMEOUT)


