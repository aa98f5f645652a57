"""Which wake words a device offers (the ``wake_word`` setting's options), and what each one loads.

A choice is a name shown to the user (a select in Home Assistant): every built-in model of the configured
engine, every model in ``wake.custom_models_dir``, and the configured ``wake.models`` (a file path shows as
its file name). When the configuration listens for several at once, their names joined by ", " are one more
choice, the configured set. Stop words are never offered. :func:`choices` is pure; :func:`for_config` reads
the manifest and the custom directory.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ...config import Config

JOIN = ", "


def shown_name(spec: str) -> str:
    """The name a configured model shows as: ``okay_nabu``; ``/opt/w/hey_pi.json`` -> ``hey_pi``;
    ``hf:owner/repo/hey_pi.tflite`` -> ``hey_pi``."""
    last = spec.rsplit("/", 1)[-1]
    return Path(last).stem if last.endswith((".json", ".tflite")) else last


def configured_choice(configured: Iterable[str]) -> str:
    """The choice that stands for the configured set of wake words."""
    return JOIN.join(shown_name(s) for s in configured)


def choices(configured: list[str], stop: list[str], bundled: Iterable[str],
            custom: Iterable[str]) -> dict[str, list[str]]:
    """Each choice's name -> the model specs it loads (as ``wake.models`` would list them).

    The configured set comes first (it is what the device starts with), then the configured models one by
    one, the custom ones, the built-in ones; a name is offered once (the first meaning wins)."""
    stops = {shown_name(s) for s in stop}
    out: dict[str, list[str]] = {configured_choice(configured): list(configured)}
    for spec in (*configured, *custom, *bundled):
        name = shown_name(spec)
        if name not in stops and name not in out:
            out[name] = [spec]
    return out


def for_config(cfg: Config) -> dict[str, list[str]]:
    """The choices of a configuration: its engine's built-in models and the custom directory's."""
    from ... import models

    w = cfg.wake
    bundled = [e.name for e in models.load_manifest() if e.role == "wake" and e.engine == w.engine]
    custom: list[str] = []
    folder = Path(w.custom_models_dir).expanduser() if w.custom_models_dir else None
    if folder is not None and folder.is_dir():
        suffix = ".json" if w.engine == "micro" else ".tflite"
        custom = sorted(p.stem for p in folder.glob(f"*{suffix}") if p.is_file())
    return choices(list(w.models), list(w.stop_models), bundled, custom)
