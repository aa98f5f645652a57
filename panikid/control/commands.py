"""The one command handler: parse raw payloads from any surface, validate, dispatch.

Two wire forms reach it:

- ``parse_json(payload)``: a JSON object (the WebSocket, and MQTT payloads that
  start with ``{``), e.g. ``{"command": "say", "text": "hello", "volume": 40}``.
- ``parse_short(name, payload)``: an MQTT command topic's short text payload,
  e.g. ``volume`` + ``"40"``, ``mute`` + ``"ON"``, ``say`` + ``"hello"``.

Both end in a :mod:`~panikid.control.schema` command or a CommandError. The
:class:`CommandHandler` runs a command against the control API
(:class:`~panikid.control.api.ControlApi`); every failure becomes one ``error``
event (where="commands") and changes nothing else. The daemon creates one
handler, and every surface uses that one.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ..events.schema import Error
from .schema import (
    COMMANDS,
    MAX_PAYLOAD_BYTES,
    Ask,
    Command,
    CommandError,
    Listen,
    Mute,
    Say,
    SetEndOfTurn,
    SetLlmBackend,
    SetVolume,
    SetWakeSensitivity,
    SetWakeWord,
    Stop,
    from_dict,
    load_json,
    parse_number,
)

if TYPE_CHECKING:
    from .api import ControlApi

log = logging.getLogger(__name__)

ON = ("on", "true", "1", "mute", "muted")
NEEDS_NO_PIPELINE = (SetVolume, SetLlmBackend)
"""Commands that only change a setting: they apply before the assistant runs, too."""
OFF = ("off", "false", "0", "unmute", "unmuted")


def decode(payload: bytes | str) -> str:
    """Payload -> text, refusing oversized or non-UTF-8 input."""
    raw = payload.encode("utf-8", "surrogatepass") if isinstance(payload, str) else bytes(payload)
    if len(raw) > MAX_PAYLOAD_BYTES:
        raise CommandError(f"the payload has {len(raw)} bytes, at most {MAX_PAYLOAD_BYTES} are allowed")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CommandError(f"the payload is not valid UTF-8 text (byte {exc.start})") from None


def parse_json(payload: bytes | str) -> Command:
    return from_dict(load_json(decode(payload)))


def parse_short(name: str, payload: bytes | str) -> Command:
    """An MQTT-style command: the command's name and its plain text payload."""
    if name not in COMMANDS:
        raise CommandError(f"unknown command {name[:40]!r}, known: {', '.join(COMMANDS)}")
    text = decode(payload).strip()
    if text.startswith("{"):
        data = parse_json(text)
        if data.name != name:
            raise CommandError(f"the payload is a {data.name!r} command, sent to {name!r}")
        return data
    if name == Mute.name:
        if text.lower() in ON:
            return Mute(True)
        if text.lower() in OFF:
            return Mute(False)
        raise CommandError(f"mute: got {text[:40]!r}, allowed: ON, OFF")
    if name == Listen.name:
        return Listen()  # any payload presses the button (Home Assistant sends "PRESS")
    if name == Stop.name:
        return Stop()
    if name == Say.name:
        return Say.from_dict({"text": text})
    if name == Ask.name:
        return Ask.from_dict({"text": text})
    if name == SetVolume.name:
        return SetVolume.from_dict({"volume": parse_number(text, "volume")})
    if name == SetWakeSensitivity.name:
        return SetWakeSensitivity.from_dict({"level": text})
    if name == SetWakeWord.name:
        return SetWakeWord.from_dict({"model": text})
    if name == SetEndOfTurn.name:
        return SetEndOfTurn.from_dict({"level": text})
    return SetLlmBackend.from_dict({"backend": text})


class CommandHandler:
    """Runs validated commands against the control API; reports every failure as an event."""

    def __init__(self, control: ControlApi) -> None:
        self.control = control
        self.rejected = 0

    def error(self, message: str, source: str, ident: str | int | None = None) -> dict[str, Any]:
        """Refuse a command: an ``error`` event (with the command's ``id`` when it had one)."""
        self.rejected += 1
        log.warning("command from %s rejected: %s", source, message)
        self.control.bus.publish(Error(where="commands", message=message, source=source,
                                       id=None if ident is None else str(ident)))
        return {"ok": False, "error": message}

    def handle_short(self, name: str, payload: bytes | str, source: str,
                     ident: str | int | None = None) -> dict[str, Any]:
        """``ident``: the command's own id (an MQTT JSON payload's ``id``), carried by its error event."""
        try:
            cmd = parse_short(name, payload)
        except CommandError as exc:
            return self.error(str(exc), source, ident)
        return self.run(cmd, source, ident)

    def handle_json(self, payload: bytes | str, source: str) -> dict[str, Any]:
        try:
            cmd = parse_json(payload)
        except CommandError as exc:
            return self.error(str(exc), source)
        return self.run(cmd, source)

    def handle_data(self, data: Any, source: str, ident: str | int | None = None) -> dict[str, Any]:
        """A command already parsed from JSON (see :func:`~panikid.control.schema.load_json`)."""
        try:
            cmd = from_dict(data)
        except CommandError as exc:
            return self.error(str(exc), source, ident)
        return self.run(cmd, source, ident)

    def run(self, cmd: Command, source: str, ident: str | int | None = None) -> dict[str, Any]:
        """Dispatch to the control API: {"ok": True, ...} or {"ok": False, "error": ...}.

        A command either takes effect or is refused, never half of each: whatever can
        fail is checked before the first effect (an ``ask`` publishes its transcript
        before it is queued, a ``say`` with a volume changes the volume)."""
        d = self.control
        try:
            if not isinstance(cmd, NEEDS_NO_PIPELINE) and not d.running:
                raise RuntimeError("the assistant is not running yet")
            result: dict[str, Any] = {"ok": True, "command": cmd.name}
            if isinstance(cmd, Mute):
                d.mute(cmd.muted)
            elif isinstance(cmd, Listen):
                d.listen()
            elif isinstance(cmd, Stop):
                d.stop_turn()
            elif isinstance(cmd, Say):
                result["turn"] = d.say(cmd.text)
                if cmd.volume is not None:  # before the sentence is played: it is only queued
                    d.set_volume(cmd.volume / 100)
            elif isinstance(cmd, Ask):
                result["turn"] = d.ask(cmd.text)
            elif isinstance(cmd, SetVolume):
                d.set_volume(cmd.volume / 100)
            elif isinstance(cmd, SetWakeSensitivity):
                # The wake word processor moves its threshold around the configured one.
                d.set_wake_sensitivity(cmd.level)
            elif isinstance(cmd, SetWakeWord):
                d.set_wake_word(cmd.model)  # checked against this device's models before anything changes
            elif isinstance(cmd, SetEndOfTurn):
                d.set_end_of_turn(cmd.level)
            else:
                d.set_llm_backend(cmd.backend)
        except Exception as exc:  # a command never takes the daemon down
            return self.error(f"{cmd.name}: {exc}", source, ident)
        log.info("command %s from %s", cmd.name, source)
        return result
