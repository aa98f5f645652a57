"""No surface, service module or the daemon writes a processor's attributes: settings travel as frames.

Every module under panikid/control and panikid/service, and the daemon (app/daemon.py, app/control.py),
is read with the ast module.
An assignment (``=``, ``+=``, annotated) or a ``setattr`` whose target reaches an attribute of a frame
processor (``wake.detector.threshold``, ``tout.volume``, ``assistant.on_action``, ``wake._score``)
fails here; a module's own attributes (``self.x = ...``) are its business.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import textwrap
from pathlib import Path

import pytest

import panikid
from panikid.pipeline.processor import FrameProcessor

PACKAGE = Path(panikid.__file__).resolve().parent
SCANNED = [*sorted((PACKAGE / "control").rglob("*.py")), *sorted((PACKAGE / "service").rglob("*.py")),
           PACKAGE / "app" / "daemon.py", PACKAGE / "app" / "control.py"]


def _subclasses(cls: type) -> set[type]:
    return {c for s in cls.__subclasses__() for c in (s, *_subclasses(s))}


def processor_attributes() -> set[str]:
    """Every attribute a frame processor of the package sets on itself, and its methods."""
    for sub in ("pipeline", "transports", "speech", "brains"):
        pkg = importlib.import_module(f"panikid.{sub}")
        for info in pkgutil.walk_packages(pkg.__path__, f"panikid.{sub}."):
            importlib.import_module(info.name)
    names: set[str] = set()
    for cls in {FrameProcessor, *_subclasses(FrameProcessor)}:
        if not cls.__module__.startswith("panikid."):
            continue
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) \
                    and isinstance(node.value, ast.Name) and node.value.id == "self":
                names.add(node.attr)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                names.add(node.name)
        names.update(n for n in vars(cls) if not n.startswith("__"))
    return names


def _chain(node: ast.expr) -> tuple[str, list[str]]:
    """``a.b.c`` -> ("a", ["b", "c"])."""
    attrs: list[str] = []
    while isinstance(node, ast.Attribute):
        attrs.insert(0, node.attr)
        node = node.value
    return (node.id if isinstance(node, ast.Name) else type(node).__name__), attrs


def writes(source: str, attributes: set[str]) -> list[str]:
    """``line: target`` of each write to a processor attribute in ``source``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = [t for target in node.targets
                       for t in (target.elts if isinstance(target, ast.Tuple) else [target])]
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "setattr" \
                and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant):
            root, attrs = _chain(node.args[0])
            if root not in ("self", "cls") or attrs:
                if str(node.args[1].value) in attributes or set(attrs) & attributes:
                    found.append(f"{node.lineno}: setattr({ast.unparse(node.args[0])}, {node.args[1].value!r})")
            continue
        for target in targets:
            if not isinstance(target, ast.Attribute):
                continue
            root, attrs = _chain(target)
            if root in ("self", "cls") and len(attrs) == 1:
                continue  # the module's own object
            if set(attrs) & attributes:
                found.append(f"{node.lineno}: {ast.unparse(target)}")
    return found


@pytest.fixture(scope="module")
def attributes() -> set[str]:
    names = processor_attributes()
    # The scan knows the attributes the control plane used to write.
    assert {"threshold", "detector", "segmenter", "prompt", "backend_choice", "volume", "on_action",
            "action_sink", "_score", "pre_roll"} <= names
    return names


def test_no_surface_service_module_or_the_daemon_writes_a_processor_attribute(attributes: set[str]) -> None:
    found = [f"{path.relative_to(PACKAGE.parent)}:{w}" for path in SCANNED
             for w in writes(path.read_text(encoding="utf-8"), attributes)]
    assert found == [], "\n".join(found)


@pytest.mark.parametrize("snippet", [
    "wake.detector.threshold = 0.5\n",
    "d.wake.detector.threshold = t\n",
    "p.segmenter.speech_seconds, p.segmenter.silence_seconds = a, b\n",
    "assistant.backend_choice = 'cloud'\n",
    "tout.volume = 0.3  # type: ignore\n",
    "self.daemon.assistant.on_action = f\n",
    "wake._score = stalling\n",
    "p.model_pause += 0.1\n",
    "setattr(tout, 'volume', 0.3)\n",
])
def test_a_write_is_caught(attributes: set[str], snippet: str) -> None:
    """The check itself: each write the control plane used to make is found."""
    assert writes(snippet, attributes), snippet


def test_own_attributes_and_other_objects_are_not_writes(attributes: set[str]) -> None:
    ok = "self.volume = 1\nself.handler = control.commands\nclient.on_connect = self._on_connect\n"
    assert writes(ok, attributes) == []
