"""How an event definition becomes the dict every surface writes, and back (pure, no I/O).

A definition (see :mod:`panikid.events.schema`) is a frozen, keyword-only dataclass
whose fields are the event's fields, in the order they are written. A field is
either *always written* (``None`` included, when its type allows it) or
*optional* (declared with :func:`optional`): written only when it is set, left
out while it equals its default.

:meth:`EventBody.from_dict` is the strict reader, for what comes from outside
(a ``--events`` line, a test): an unknown field, a missing one or a value of the
wrong type is an :class:`EventSchemaError` naming the type and the field.
:meth:`EventBody.read` is the lenient one, for an event built by hand from a type
and a dict (the untyped ``EventBus.publish`` form, kept for tests and tools): it
reads the way ``dict.get`` did, a missing field as its default or None.
"""

from __future__ import annotations

import dataclasses
import logging
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Self


class EventSchemaError(ValueError):
    """An event did not match its definition; the message names the type and the field."""


_OPTIONAL = "optional"
ENVELOPE = ("type", "t")
"""Keys every event line has besides its fields: the type, and the time the bus gave it."""


def optional(default: Any = None) -> Any:
    """A field written only when set: left out of the event while it equals ``default``."""
    return dataclasses.field(default=default, metadata={_OPTIONAL: True})


@dataclass(frozen=True)
class Field:
    """One field of a definition, as the codec sees it."""

    name: str
    hint: Any
    optional: bool
    default: Any  # dataclasses.MISSING when the field must be given

    @property
    def required(self) -> bool:
        return self.default is dataclasses.MISSING

    def omitted(self, value: Any) -> bool:
        return self.optional and type(value) is type(self.default) and value == self.default


@dataclass(frozen=True, kw_only=True)
class EventBody:
    """The base of every event definition: what the bus publishes and every surface reads."""

    type: ClassVar[str]
    """The event's name on every surface (``"wake"``)."""
    mqtt_attributes: ClassVar[bool] = False
    """Whether it changes what MQTT's retained ``state/attributes`` say."""
    log_level: ClassVar[int] = logging.INFO
    """The level the event is logged at (the journal): debug for what the user said."""
    _fields: ClassVar[tuple[Field, ...]] = ()

    @classmethod
    def fields(cls) -> tuple[Field, ...]:
        """The definition's fields, in the order they are written."""
        if "_fields" not in cls.__dict__:
            hints = typing.get_type_hints(cls)
            cls._fields = tuple(
                Field(f.name, hints[f.name], bool(f.metadata.get(_OPTIONAL)), f.default)
                for f in dataclasses.fields(cls)
            )
        return cls._fields

    @classmethod
    def doc(cls) -> str:
        """The definition's one-line description."""
        return (cls.__doc__ or "").strip().splitlines()[0]

    def data(self) -> dict[str, Any]:
        """The event's fields as the surfaces write them (after ``type`` and ``t``)."""
        out = {}
        for f in self.fields():
            value = getattr(self, f.name)
            if not f.omitted(value):
                out[f.name] = value
        return out

    def to_dict(self) -> dict[str, Any]:
        """``{"type": ..., **fields}``; the bus adds ``t`` when it publishes the event."""
        return {"type": self.type, **self.data()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """The event ``data`` describes (``type`` and ``t`` may be there, as in a line of
        ``--events``); EventSchemaError when a field is unknown, missing or of the wrong type."""
        if not isinstance(data, Mapping):
            raise EventSchemaError(f"{cls.type}: an event must be a JSON object, got {type(data).__name__}")
        if data.get("type", cls.type) != cls.type:
            raise EventSchemaError(f"{cls.type}: the data is of type {str(data['type'])[:40]!r}")
        t = data.get("t", 0.0)
        if isinstance(t, bool) or not isinstance(t, (int, float)):
            raise EventSchemaError(f"{cls.type}.t: expected a number, got {type(t).__name__}")
        known = {f.name: f for f in cls.fields()}
        extra = [k for k in data if k not in known and k not in ENVELOPE]
        if extra:
            raise EventSchemaError(f"{cls.type}: unknown field {str(extra[0])[:40]!r}, "
                                   f"allowed: {', '.join(known) or 'none'}")
        values = {}
        for f in known.values():
            if f.name not in data:
                if f.required:
                    raise EventSchemaError(f"{cls.type}.{f.name}: missing (expected {describe(f.hint)})")
                continue
            value = data[f.name]
            if not accepts(f.hint, value):
                raise EventSchemaError(f"{cls.type}.{f.name}: expected {describe(f.hint)}, "
                                       f"got {_kind(value)}")
            values[f.name] = value
        return cls(**values)

    @classmethod
    def read(cls, data: Mapping[str, Any]) -> Self:
        """The event read leniently, as ``dict.get`` did: a missing field is its default
        (None when it has none), unknown fields are ignored, values are taken as they are."""
        return cls(**{f.name: data.get(f.name, None if f.required else f.default) for f in cls.fields()})


def accepts(hint: Any, value: Any) -> bool:
    """Whether ``value`` (as JSON gives it back) is of the field type ``hint``."""
    if hint is Any:
        return True
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:  # an integer is a number too (JSON writes 2.0 as 2.0, a hand-written line 2)
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        return any(accepts(a, value) for a in args)
    if origin is list:
        return isinstance(value, list) and all(accepts(args[0], v) for v in value)
    if origin is dict:
        return isinstance(value, dict) and all(accepts(args[0], k) and accepts(args[1], v)
                                               for k, v in value.items())
    raise TypeError(f"event fields cannot be of type {hint!r}")


def describe(hint: Any) -> str:
    """``hint`` in words, for an error message: "a number or null"."""
    if hint is Any:
        return "any value"
    if hint is type(None):
        return "null"
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    if hint in names:
        return names[hint]
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        return " or ".join(describe(a) for a in sorted(args, key=lambda a: a is type(None)))
    if origin is list:
        return f"a list of ({describe(args[0])})"
    if origin is dict:
        return f"an object of ({describe(args[1])})"
    return repr(hint)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return type(value).__name__
