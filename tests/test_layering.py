"""The layering rule of docs DESIGN.md, enforced: imports only go downward.

    installation/  -> engine, exporters
    tools/         -> exporters, engine, and the installation's front door only: installation.cli, .app and
                      .config, to run a show the way `laterna` does (tools/bench.py, tools/live_turn.py);
                      never its internals (server, prompts, control, ...). Nothing imports tools/.
    exporters/     -> engine
    engine/        -> nothing of ours

Imports are read with ``ast`` from every file, at any depth (an import inside a function counts as much
as one at the top), relative imports are resolved, and ``importlib.import_module("...")``,
``__import__("...")`` and the registry's ``"module:Class"`` strings count as imports too.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OURS = ("engine", "exporters", "installation", "tools")

# layer -> the module prefixes of ours it may import (itself always included)
ALLOWED: dict[str, tuple[str, ...]] = {
    "engine": ("engine",),
    "exporters": ("exporters", "engine"),
    "installation": ("installation", "exporters", "engine"),
    "tools": ("tools", "exporters", "engine", "installation.cli", "installation.app", "installation.config"),
}
TARGET = re.compile(r"^((?:engine|exporters|installation|tools)(?:\.\w+)*):\w+$")  # registry "module:Class"


@dataclass(frozen=True)
class Import:
    """One import found in a source file."""

    path: str  # relative to the repository root
    line: int
    module: str  # absolute dotted name

    def __str__(self) -> str:
        return f"{self.path}:{self.line} imports {self.module}"


def _package_of(path: Path) -> list[str]:
    """The dotted package a file belongs to, as a list (``engine/sinks/window.py`` -> ["engine", "sinks"])."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return parts[:-1] if parts[-1] != "__init__" else parts[:-1]


def imports_in(source: str, path: Path) -> Iterator[Import]:
    """Every import in ``source`` (the text of ``path``), wherever it is written."""
    rel = str(path.relative_to(ROOT))
    package = _package_of(path)
    for node in ast.walk(ast.parse(source, filename=rel)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(rel, node.lineno, alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            yield Import(rel, node.lineno, module)
            for alias in node.names:  # `from engine import sinks` imports engine.sinks
                yield Import(rel, node.lineno, f"{module}.{alias.name}")
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if name in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                yield Import(rel, node.lineno, node.args[0].value)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            match = TARGET.match(node.value)
            if match:
                yield Import(rel, node.lineno, match.group(1))


def violations(layer: str, found: Iterator[Import]) -> list[str]:
    """The imports of ours in ``found`` that ``layer`` may not make."""
    bad: list[Import] = []
    for imp in found:
        top = imp.module.split(".")[0]
        if top not in OURS:
            continue
        if not any(imp.module == p or imp.module.startswith(p + ".") for p in ALLOWED[layer]):
            bad.append(imp)
    return [str(imp) for imp in sorted(bad, key=lambda i: (i.path, i.line, i.module))]


def layer_files(layer: str) -> list[Path]:
    files = sorted((ROOT / layer).rglob("*.py"))
    assert files, f"no Python files under {layer}/"
    return files


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_layer_imports_only_downward(layer: str) -> None:
    """No file in the layer imports a package of ours above it (at any depth, relative or dynamic)."""
    bad = [v for path in layer_files(layer) for v in violations(layer, imports_in(path.read_text(), path))]
    assert not bad, f"{layer}/ may import only {ALLOWED[layer]}:\n" + "\n".join(bad)


def test_checker_sees_imports_inside_functions_relative_and_dynamic() -> None:
    """The checker flags an upward import hidden in a function, a relative one, importlib and a registry string."""
    path = ROOT / "engine" / "sinks" / "example.py"
    source = (
        "import numpy\n"
        "from engine.errors import SinkError\n"
        "from . import base\n"
        "def f():\n"
        "    from installation.server import prompt_server\n"
        "    import exporters.stylenet\n"
        "    return importlib.import_module('installation.app')\n"
        "from ...installation import app\n"
        "TABLE = {'x': 'exporters.ship:Ship'}\n"
    )
    found = list(imports_in(source, path))
    assert "engine.sinks.base" in {i.module for i in found}
    assert violations("engine", iter(found)) == [
        "engine/sinks/example.py:5 imports installation.server",
        "engine/sinks/example.py:5 imports installation.server.prompt_server",
        "engine/sinks/example.py:6 imports exporters.stylenet",
        "engine/sinks/example.py:7 imports installation.app",
        "engine/sinks/example.py:8 imports installation",
        "engine/sinks/example.py:8 imports installation.app",
        "engine/sinks/example.py:9 imports exporters.ship",
    ]
    assert violations("tools", iter([Import("tools/x.py", 1, "installation.cli.main")])) == []
    assert violations("tools", iter([Import("tools/x.py", 1, "installation.server.prompt_server")])) == [
        "tools/x.py:1 imports installation.server.prompt_server"
    ]


ENGINE_IMPORT_CHECK = """
import importlib, pkgutil, sys
for blocked in ("torch", "tensorrt", "cuda", "pycuda", "exporters", "installation", "tools"):
    sys.modules[blocked] = None  # any import of these now raises ImportError
import engine
names = ["engine"] + [m.name for m in pkgutil.walk_packages(engine.__path__, "engine.")]
for name in names:
    importlib.import_module(name)
print(len(names))
"""


def test_engine_imports_without_torch_tensorrt_or_a_display() -> None:
    """Every module under engine/ imports with torch, TensorRT, CUDA and our upper layers blocked, and no display."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "SDL_VIDEODRIVER")}
    env["PYTHONPATH"] = str(ROOT)
    env["PYGAME_HIDE_SUPPORT_PROMPT"] = "1"
    done = subprocess.run(
        [sys.executable, "-c", ENGINE_IMPORT_CHECK], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    compiled = {path.name.split(".")[0] for path in (ROOT / "engine").glob("*.so")}  # engine._frames, where built
    expected = len(layer_files("engine")) + len(compiled)
    assert int(done.stdout.split()[-1]) == expected, "pkgutil did not find every engine module"
