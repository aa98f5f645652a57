"""The command schema: one dataclass per command, shared by every surface.

Each command has a ``name`` and ``to_dict()`` / ``from_dict()`` (Wyoming style):
``{"command": "volume", "volume": 40}``. MQTT carries the same commands as a
topic plus a short text payload (see :mod:`panikid.control.commands`); the
WebSocket carries the dict form as JSON. Validation lives here and only here.

Units, chosen once: volume is a percentage, 0 to 100 (a number; fractions
allowed). Wake sensitivity is ``low``, ``medium`` or ``high``; the end-of-turn
sensitivity ``relaxed``, ``default`` or ``aggressive``. The LLM backend is
``auto``, ``local`` or ``cloud``. A wake word is a model name; which names a
device offers depends on its configuration, so the control API checks that.

Everything that arrives from outside goes through the few checks here:
:func:`load_json` (bounded size and nesting depth), :func:`check_text` (no lone
surrogates, no control characters), :func:`parse_number` (a strict grammar of
ASCII digits), so an odd payload is refused with a message naming the field
instead of surfacing later in an encoder, a model or a terminal.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any, ClassVar

MAX_PAYLOAD_BYTES = 4096
"""Largest command payload any surface accepts."""
MAX_TEXT_CHARS = 1000
"""Longest text for ``say`` and ``ask``."""
MAX_JSON_DEPTH = 8
"""Deepest nesting of arrays and objects accepted in a JSON payload (commands are flat)."""
MAX_ID_CHARS = 100
"""Longest request ``id`` a WebSocket client may send (echoed in its ack)."""

SENSITIVITIES = ("low", "medium", "high")
BACKENDS = ("auto", "local", "cloud")
END_OF_TURN_LEVELS = ("relaxed", "default", "aggressive")
"""The end-of-turn sensitivity (panikid.speech.turn.patience): wait longer, as configured, answer sooner."""
_WAKE_WORD = re.compile(r"[A-Za-z0-9_.\-]+(?:, [A-Za-z0-9_.\-]+)*")


class CommandError(ValueError):
    """A command was malformed; the message names what was wrong."""


# C0 controls but tab, line feed and carriage return; DEL; the C1 controls (U+0085, the
# terminal escape U+009B, ...); lone surrogates (valid in JSON escapes, not in Unicode text).
_FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")


def check_text(text: str, what: str) -> str:
    """``text`` unchanged when it is Unicode text without control characters; else a CommandError."""
    bad = _FORBIDDEN.search(text)
    if bad is None:
        return text
    code = ord(bad.group())
    found = f"(U+{code:04X} at position {bad.start()})"
    kind = f"a lone surrogate {found}, which is not a character" if 0xD800 <= code <= 0xDFFF \
        else f"a control character {found}"
    raise CommandError(f"{what}: the text contains {kind}; allowed: printable text, tabs and line breaks")


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise CommandError(f"{what}: expected a string, got {type(value).__name__}")
    text = value.strip()
    if not text:
        raise CommandError(f"{what}: the text is empty")
    if len(text) > MAX_TEXT_CHARS:
        raise CommandError(f"{what}: the text has {len(text)} characters, at most {MAX_TEXT_CHARS} are allowed")
    return check_text(text, what)


def parse_number(text: str, what: str) -> float:
    """A number written in a text payload: ASCII digits, an optional sign, at most one dot.

    ``float()`` alone would also take ``1_0``, ``inf``, ``1e2``, fullwidth and
    Arabic-Indic digits; a typo should be an error, not a volume.
    """
    if not _NUMBER.fullmatch(text):
        raise CommandError(f"{what}: expected a number from 0 to 100 (digits, an optional sign and dot), "
                           f"got {text[:40]!r}")
    return float(text) + 0.0  # + 0.0 turns -0.0 into 0.0


def _percent(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CommandError(f"{what}: expected a number from 0 to 100, got {type(value).__name__}")
    if not math.isfinite(value) or not 0 <= value <= 100:
        raise CommandError(f"{what}: expected a number from 0 to 100, got {value!r}")
    return float(value) + 0.0  # -0 is 0


def _json_depth_ok(text: str, limit: int) -> bool:
    """Whether no array or object in ``text`` nests deeper than ``limit`` (brackets inside
    strings do not count). Checked before parsing: the parser recurses once per level."""
    depth = 0
    in_string = escaped = False
    for c in text:
        if in_string:
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
        elif c in "[{":
            depth += 1
            if depth > limit:
                return False
        elif c in "]}":
            depth -= 1
    return True


def load_json(text: str, what: str = "the payload", max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse JSON that came from outside (MQTT, Hermes, the WebSocket); CommandError when it is
    not JSON or nests deeper than ``max_depth``. The caller bounds the size first."""
    if not _json_depth_ok(text, max_depth):
        raise CommandError(f"{what} is not valid JSON: it nests deeper than {max_depth} levels")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CommandError(f"{what} is not valid JSON: {exc.msg}") from None
    except (ValueError, RecursionError) as exc:  # a huge integer literal, say
        raise CommandError(f"{what} is not valid JSON: {exc}"[:200]) from None


def request_id(data: Any) -> str | int | None:
    """The ``id`` a client gave a command (echoed in its ack), when it is a usable one."""
    ident = data.get("id") if isinstance(data, dict) else None
    if isinstance(ident, bool) or not isinstance(ident, (str, int)):
        return None
    if isinstance(ident, int):
        return ident if abs(ident) < 2**53 else None
    if len(ident) > MAX_ID_CHARS or _FORBIDDEN.search(ident):
        return None
    return ident


def _check_id(data: dict[str, Any]) -> None:
    if "id" in data and request_id(data) is None:
        raise CommandError(f"id: expected a string of at most {MAX_ID_CHARS} characters (no control "
                           "characters) or an integer")


def _choice(value: Any, what: str, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value.strip().lower() not in choices:
        raise CommandError(f"{what}: got {value!r}, allowed: {', '.join(choices)}")
    return value.strip().lower()


def _no_extra(data: dict[str, Any], allowed: tuple[str, ...], name: str) -> None:
    _check_id(data)
    extra = sorted(set(data) - {"command", "id", *allowed})
    if extra:
        raise CommandError(f"{name}: unknown field {extra[0]!r}, allowed: {', '.join(allowed) or 'none'}")


@dataclass(frozen=True)
class Mute:
    muted: bool = True
    name: ClassVar[str] = "mute"

    def to_dict(self) -> dict[str, Any]:
        return {"command": self.name, "muted": self.muted}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Mute:
        _no_extra(data, ("muted",), cls.name)
        muted = data.get("muted", True)
        if not isinstance(muted, bool):
            raise CommandError(f"mute.muted: expected true or false, got {muted!r}")
        return cls(muted)


@dataclass(frozen=True)
class Listen:
    name: ClassVar[str] = "listen"

    def to_dict(self) -> dict[str, Any]:
        return {"command": self.name}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Listen:
        _no_extra(data, (), cls.name)
        return cls()


@dataclass(frozen=True)
class Stop:
    name: ClassVar[str] = "stop"

    def to_dict(self) -> dict[str, Any]:
        return {"command": self.name}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Stop:
        _no_extra(data, (), cls.name)
        return cls()


@dataclass(frozen=True)
class Say:
    text: str
    volume: float | None = None
    name: ClassVar[str] = "say"

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"command": self.name, "text": self.text}
        if self.volume is not None:
            d["volume"] = self.volume
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Say:
        _no_extra(data, ("text", "volume"), cls.name)
        volume = data.get("volume")
        return cls(_text(data.get("text"), "say.text"),
                   None if volume is None else _percent(volume, "say.volume"))


@dataclass(frozen=True)
class Ask:
    text: str
    name: ClassVar[str] = "ask"

    def to_dict(self) -> dict[str, Any]:
        return {"command": self.name, "text": self.text}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Ask:
        _no_extra(data, ("text",), cls.name)
        return cls(_text(data.get("text"), "ask.text"))


@dataclass(frozen=True)
class SetVolume:
    volume: float
    name: ClassVar[str] = "volume"

    def to_dict(self) -> dict[str, Any]:
        return {"command": self.name, "volume": self.volume}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SetVolume:
        _no_extra(data, ("volume",), cls.name)
        return cls(_percent(data.get("volume"), "volume.volume"))


@dataclass(frozen=True)
class SetWakeSensitivity:
    level: str
    name: ClassVar[str] = "wake_sensitivity"

    def to_dict(self) -> dict[str, Any]:
        return {"command": self.name, "level": self.level}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SetWakeSensitivity:
        _no_extra(data, ("level",), cls.name)
        return cls(_choice(data.get("level"), "wake_sensitivity.level", SENSITIVITIES))


@dataclass(frozen=True)
class SetWakeWord:
    model: str
    """A wake word model name (several, as the configuration lists them, joined by ", ")."""
    name: ClassVar[str] = "wake_word"

    def to_dict(self) -> dict[str, Any]:
        return {"command": self.name, "model": self.model}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SetWakeWord:
        _no_extra(data, ("model",), cls.name)
        model = data.get("model")
        if not isinstance(model, str) or not 0 < len(model) <= 200 or not _WAKE_WORD.fullmatch(model):
            raise CommandError(f"wake_word.model: got {str(model)[:40]!r}, allowed: a wake word model name "
                               "(letters, digits, _ . -), e.g. \"hey_jarvis\"")
        return cls(model)


@dataclass(frozen=True)
class SetEndOfTurn:
    level: str
    name: ClassVar[str] = "end_of_turn"

    def to_dict(self) -> dict[str, Any]:
        return {"command": self.name, "level": self.level}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SetEndOfTurn:
        _no_extra(data, ("level",), cls.name)
        return cls(_choice(data.get("level"), "end_of_turn.level", END_OF_TURN_LEVELS))


@dataclass(frozen=True)
class SetLlmBackend:
    backend: str
    name: ClassVar[str] = "llm_backend"

    def to_dict(self) -> dict[str, Any]:
        return {"command": self.name, "backend": self.backend}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SetLlmBackend:
        _no_extra(data, ("backend",), cls.name)
        return cls(_choice(data.get("backend"), "llm_backend.backend", BACKENDS))


Command = (Mute | Listen | Stop | Say | Ask | SetVolume | SetWakeSensitivity | SetWakeWord | SetEndOfTurn
           | SetLlmBackend)

COMMANDS: dict[str, Any] = {
    c.name: c for c in (Mute, Listen, Stop, Say, Ask, SetVolume, SetWakeSensitivity, SetWakeWord, SetEndOfTurn,
                        SetLlmBackend)
}


def from_dict(data: Any) -> Command:
    """The command a JSON object describes; CommandError when it describes none."""
    if not isinstance(data, dict):
        raise CommandError(f"a command must be a JSON object, got {type(data).__name__}")
    name = data.get("command")
    if not isinstance(name, str):
        raise CommandError('a command needs a "command" field naming it, e.g. {"command": "listen"}')
    cls = COMMANDS.get(name)
    if cls is None:
        raise CommandError(f"unknown command {name[:40]!r}, known: {', '.join(COMMANDS)}")
    result: Command = cls.from_dict(data)
    return result
