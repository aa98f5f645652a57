"""SIGHUP reload, the pure part: which changed keys apply live and which need a restart.

The daemon re-reads its configuration file on SIGHUP. The live keys (what each
processor declares it applies, its ``settings_keys``, gathered by the daemon)
go to the running pipeline as one ``UpdateSettingsFrame``; any other changed key
is reported as needing a restart (``systemctl restart panikid``), and the
running value stays in effect.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from .. import config as config_mod
from ..config import Config


def changed_keys(old: Config, new: Config) -> dict[str, Any]:
    """``section.key`` -> new value, for every key whose value differs."""
    a, b = config_mod.to_dict(old), config_mod.to_dict(new)
    return {f"{section}.{key}": value
            for section, values in b.items() for key, value in values.items()
            if a.get(section, {}).get(key) != value}


def plan(old: Config, new: Config, live_keys: Collection[str]) -> tuple[Config, dict[str, Any], list[str]]:
    """(the configuration in effect after the reload, keys applied live, keys that need a restart)."""
    changed = changed_keys(old, new)
    live = {k: v for k, v in changed.items() if k in live_keys}
    restart = sorted(k for k in changed if k not in live_keys)
    sections: dict[str, dict[str, Any]] = {}
    for key, value in live.items():
        section, name = key.split(".", 1)
        sections.setdefault(section, {})[name] = value
    effective = config_mod.replace(old, **sections) if sections else old
    return effective, live, restart
