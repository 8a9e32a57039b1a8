"""Which test modules need TensorFlow, read from their imports without importing them.

A test module needs TensorFlow (the mark ``tf``) when something in it imports tensorflow,
keras, tf_keras or mtcnn, directly or through a project module (``train``, ``convert``, ...)
whose import loads one of them. In the test file every import counts: at the top, inside
a test or a fixture, ``__import__`` / ``importlib.import_module`` with a literal name, and
code in a string that a test hands to a subprocess. In project modules only the imports
that run when the module is imported count, not those inside functions: ``train.cli``
imports each command's module when that command runs, so a test of ``siamese-train
prepare``'s refusals is not marked for the training command beside it.

What this cannot see, a test reaching TensorFlow through a project function's lazy
import (``train.prepare`` loads mtcnn only when it detects faces), is marked by hand with
``@pytest.mark.tf``; ``make test-fast`` makes the packages unimportable, so such a test
left unmarked fails there with a line that says so instead of slowing it down.
"""
from __future__ import annotations

import ast
import functools
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TF_PACKAGES = frozenset({"tensorflow", "keras", "tf_keras", "mtcnn"})
PROJECT = frozenset({"train", "convert", "edge", "gallery", "benchmarks", "tests"})
_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)


def _file(module: str) -> Path | None:
    base = ROOT.joinpath(*module.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _imported(node: ast.Import | ast.ImportFrom, package: str) -> list[str]:
    """Module names an import statement may load (``from a import b``: a, and a.b if a module)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    parts = package.split(".") if node.level else []
    if node.level > 1:
        parts = parts[:len(parts) - node.level + 1]
    base = ".".join([*parts, *([node.module] if node.module else [])])
    return [base] + [f"{base}.{alias.name}" for alias in node.names if alias.name != "*"]


def _names(tree: ast.AST, package: str, everywhere: bool) -> set[str]:
    """Modules ``tree`` imports: only those run on import, or (``everywhere``) all of them,
    with literal ``__import__`` / ``import_module`` calls and code strings."""
    found: set[str] = set()
    for node in ast.iter_child_nodes(tree):
        if not everywhere and isinstance(node, _FUNCTIONS):
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.update(_imported(node, package))
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)
              and getattr(node.func, "attr", getattr(node.func, "id", None)) in ("__import__",
                                                                                 "import_module")):
            found.add(node.args[0].value)
        elif (everywhere and isinstance(node, ast.Constant) and isinstance(node.value, str)
              and "import " in node.value):
            try:
                found |= _names(ast.parse(textwrap.dedent(node.value)), package, everywhere)
            except SyntaxError:  # prose, not code
                pass
        found |= _names(node, package, everywhere)
    return found


@functools.cache
def _imports_of(path: Path, everywhere: bool) -> frozenset[str]:
    package = ".".join(path.relative_to(ROOT).parts[:-1])
    return frozenset(_names(ast.parse(path.read_text(), str(path)), package, everywhere))


@functools.cache
def tf_chain(test_file: Path) -> tuple[str, ...]:
    """How ``test_file`` reaches TensorFlow, e.g. ("train.fit", "keras"); () if it does not."""
    start = _imports_of(Path(test_file).resolve(), True)
    came_from: dict[str, str | None] = {name: None for name in start}
    queue, seen = sorted(start), set()
    while queue:
        name = queue.pop(0)
        if name.split(".")[0] in TF_PACKAGES:
            chain = [name]
            while came_from[chain[-1]] is not None:
                chain.append(came_from[chain[-1]])
            return tuple(reversed(chain))
        if name.split(".")[0] not in PROJECT:
            continue
        parts = name.split(".")
        for i in range(1, len(parts) + 1):  # importing a.b.c runs a/__init__.py and a/b/__init__.py
            path = _file(".".join(parts[:i]))
            if path is None or path in seen:
                continue
            seen.add(path)
            for found in sorted(_imports_of(path, False)):
                if found not in came_from:
                    came_from[found] = name
                    queue.append(found)
    return ()
