"""The layers stay honest: a package imports only from its own layer's allowed neighbours and from below.

Every ``import`` in panikid/ is read (with the ast module, type-checking-only imports included), mapped to
the top-level package it comes from and goes to, and checked against the layering below. A speech stage
that imported the control plane, or a surface that reached into a processor's module, fails here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "panikid"

# Bottom to top. A package may import from any package of a lower layer; within its own layer only
# from the neighbours listed in SAME_LAYER.
LAYERS: list[set[str]] = [
    {"config", "config_loader", "text", "events"},  # the configuration, pure text utilities, the event bus
    {"audio", "models", "secrets"},  # audio formats and files, model lookup, secrets
    {"pipeline"},  # the frame core
    {"transports", "frontend", "speech", "brains", "satellite"},  # what the pipeline is made of
    {"control", "service", "doctor"},  # what exposes and checks it
    {"app"},  # the composition root: the only package that imports everything
    {"cli", "bench", "evaluation", "devtools", "__main__", "__init__"},  # tools on top
]
SAME_LAYER: dict[str, set[str]] = {
    "bench": {"devtools"}, "evaluation": {"devtools"}, "cli": {"bench", "evaluation", "__init__"},
    "__main__": {"cli"},
    "config": {"config_loader"}, "config_loader": {"config"},  # the keys, and how a file becomes them
}


def _layer(top: str) -> int:
    for i, layer in enumerate(LAYERS):
        if top in layer:
            return i
    raise AssertionError(f"panikid.{top} is in no layer: add it to LAYERS in {__file__}")


def _top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(path: Path, root: Path) -> list[tuple[int, str]]:
    rel = path.relative_to(root.parent).with_suffix("")
    parts = list(rel.parts)
    package = parts[:-1] if parts[-1] != "__init__" else parts[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target == "panikid":  # from panikid import x: x is the package imported
                found += [(node.lineno, f"panikid.{a.name}") for a in node.names]
            elif target.startswith("panikid."):
                found.append((node.lineno, target))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("panikid")]
    return found


def _module_top(path: Path, root: Path = PACKAGE) -> str:
    rel = path.relative_to(root)
    return rel.parts[0].removesuffix(".py") if len(rel.parts) > 1 else rel.stem


def violations(root: Path = PACKAGE) -> list[str]:
    out = []
    for path in sorted(root.rglob("*.py")):
        src = _module_top(path, root)
        for line, target in _imports(path, root):
            dst = _top(target)
            if dst == src or target == "panikid.__version__":
                continue
            a, b = _layer(src), _layer(dst)
            if b > a or (b == a and dst not in SAME_LAYER.get(src, set())):
                out.append(f"{path.relative_to(root.parent)}:{line}: panikid.{src} imports {target} "
                           f"(layer {a} -> layer {b})")
    return out


def test_no_package_imports_from_a_layer_above_it_or_a_sibling() -> None:
    found = violations()
    assert found == [], "\n".join(found)


def test_every_package_is_in_a_layer() -> None:
    tops = {_module_top(p) for p in PACKAGE.rglob("*.py")}
    for top in tops:
        _layer(top)


@pytest.mark.parametrize("src,snippet", [
    ("speech/stt/stray.py", "from ...control.commands import CommandHandler\n"),
    ("brains/stray.py", "from ..speech.turn.processor import TurnDetector\n"),
    ("control/stray.py", "from ..app.daemon import Daemon\n"),
    ("pipeline/stray.py", "from ..transports.base import InputTransport\n"),
])
def test_a_stray_import_is_caught(tmp_path: Path, src: str, snippet: str) -> None:
    """The check itself: a copy of the package with one upward import added fails."""
    import shutil

    copy = tmp_path / "panikid"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__", "*.onnx", "*.tflite"))
    (copy / src).write_text(snippet)
    found = violations(copy)
    assert any(src in v for v in found), found
