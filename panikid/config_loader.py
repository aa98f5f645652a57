"""Reading and checking a configuration: a TOML document, then the environment, into a validated
:class:`panikid.config.Config` (the sections and their keys are in :mod:`panikid.config`, which exports
everything here: ``config.load``, ``config.build``, ...)."""

from __future__ import annotations

import dataclasses
import math
import os
import tomllib
import types
import typing
from pathlib import Path
from typing import Any

from .config import SECTIONS, Config, ConfigError

SYSTEM_CONFIG = Path("/etc/panikid/panikid.toml")
"""The configuration a service reads when no other is named."""

# ----------------------------------------------------------------------------- validation

def _describe(f: dataclasses.Field[Any], tp: Any) -> str:
    md = f.metadata
    if "choices" in md:
        return "one of " + ", ".join(repr(c) for c in md["choices"])
    kind = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}.get(tp, "a list of strings")
    if "min" in md and "max" in md:
        return f"{kind} from {md['min']} to {md['max']}"
    if "min_items" in md:
        return f"{kind} with at least {md['min_items']} item(s)"
    return kind


def _coerce(key: str, f: dataclasses.Field[Any], tp: Any, value: Any) -> Any:
    import re

    allowed = _describe(f, tp)
    bad = ConfigError(f"{key}: got {value!r}, allowed: {allowed}")
    if tp is bool:
        if not isinstance(value, bool):
            raise bad
    elif tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad
    elif tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad
        value = float(value)
        if not math.isfinite(value):  # nan would pass every min/max comparison
            raise bad
    elif tp is str:
        if not isinstance(value, str):
            raise bad
    else:  # list[str]
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise bad
        if len(value) < f.metadata.get("min_items", 0):
            raise bad
    md = f.metadata
    if "choices" in md and value not in md["choices"]:
        raise bad
    if "min" in md and value < md["min"]:
        raise bad
    if "max" in md and value > md["max"]:
        raise bad
    if "pattern" in md and not re.fullmatch(md["pattern"], value):  # "$" alone lets a newline through
        raise ConfigError(f"{key}: got {value!r}, must match {md['pattern']}")
    return value


def _field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {name: (list if typing.get_origin(t) in (list, types.GenericAlias) else t) for name, t in hints.items()}


def build(data: dict[str, Any], source: str = "built-in defaults") -> Config:
    """Validate a parsed TOML document into a Config."""
    if not isinstance(data, dict):
        raise ConfigError("the configuration must be a table of sections")
    unknown = set(data) - set(SECTIONS)
    if unknown:
        raise ConfigError(
            f"unknown section [{sorted(unknown)[0]}], allowed sections: {', '.join(SECTIONS)}"
        )
    sections: dict[str, Any] = {}
    for name, cls in SECTIONS.items():
        raw = data.get(name, {})
        if not isinstance(raw, dict):
            raise ConfigError(f"{name}: must be a table ([{name}])")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        hints = _field_types(cls)
        for key in raw:
            if key not in fields:
                raise ConfigError(f"{name}.{key}: unknown key, allowed keys: {', '.join(fields)}")
        values = {k: _coerce(f"{name}.{k}", fields[k], hints[k], v) for k, v in raw.items()}
        sections[name] = cls(**values)
    return Config(**sections, source=source)


def _env_value(key: str, tp: Any, text: str) -> Any:
    if tp is bool:
        low = text.strip().lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        return text
    if tp is int:
        try:
            return int(text)
        except ValueError:
            return text
    if tp is float:
        try:
            return float(text)
        except ValueError:
            return text
    if tp is list:
        return [p.strip() for p in text.split(",") if p.strip()]
    return text


def apply_env(data: dict[str, Any], environ: typing.Mapping[str, str]) -> list[str]:
    """Merge PANIKID_<SECTION>_<KEY> variables into ``data``; returns the keys set."""
    applied = []
    for name, cls in SECTIONS.items():
        hints = _field_types(cls)
        for f in dataclasses.fields(cls):
            var = f"PANIKID_{name}_{f.name}".upper()
            if var in environ:
                data.setdefault(name, {})
                if not isinstance(data[name], dict):
                    continue
                data[name][f.name] = _env_value(var, hints[f.name], environ[var])
                applied.append(f"{name}.{f.name}")
    return applied


def config_path(explicit: str | None, environ: typing.Mapping[str, str] | None = None) -> Path | None:
    environ = os.environ if environ is None else environ
    if explicit:
        return Path(explicit)
    if environ.get("PANIKID_CONFIG"):
        return Path(environ["PANIKID_CONFIG"])
    if SYSTEM_CONFIG.exists():
        return SYSTEM_CONFIG
    return None


def load(explicit: str | None = None, environ: typing.Mapping[str, str] | None = None) -> Config:
    environ = os.environ if environ is None else environ
    path = config_path(explicit, environ)
    data: dict[str, Any] = {}
    source = "built-in defaults"
    if path is not None:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(f"configuration file {path} does not exist") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read configuration file {path}: {exc}") from None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path} is not valid TOML: {exc}") from None
        source = str(path)
    from_env = apply_env(data, environ)
    try:
        return build(data, source)
    except ConfigError as exc:
        # Point at the environment variable when the bad value came from one.
        for key in from_env:
            if str(exc).startswith(f"{key}:"):
                var = "PANIKID_" + key.replace(".", "_").upper()
                raise ConfigError(f"{exc} (set by the environment variable {var})") from None
        raise ConfigError(f"{source}: {exc}") from None


def replace(cfg: Config, **sections: dict[str, Any]) -> Config:
    """A copy of ``cfg`` with some keys changed (validated), e.g. replace(cfg, vad={"engine": "silero"})."""
    data = to_dict(cfg)
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    return build(data, cfg.source)


def to_dict(cfg: Config) -> dict[str, dict[str, Any]]:
    return {name: dataclasses.asdict(getattr(cfg, name)) for name in SECTIONS}


def documented_defaults() -> list[tuple[str, str, Any, str]]:
    """(section, key, default, doc) for every key: the source of config/panikid.toml."""
    rows = []
    for name, cls in SECTIONS.items():
        inst = cls()
        for f in dataclasses.fields(cls):
            default = f.default if f.default is not dataclasses.MISSING else getattr(inst, f.name)
            rows.append((name, f.name, default, f.metadata.get("doc", "")))
    return rows
