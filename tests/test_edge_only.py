"""Slim by construction: the device runtime never loads TensorFlow, Keras or mtcnn.

A fresh interpreter enrols and identifies with the shipped bundle and then lists what
it imported; and every file under edge/ and gallery/ is read for imports of them, even
inside functions. The only mention allowed is edge/litert.py's documented last resort
(``tensorflow.lite`` on a workstation that has neither LiteRT nor tflite_runtime).
"""
from __future__ import annotations

import ast
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import ROOT
from tests.edge_support import BUNDLE, ENV, orl, write

pytestmark = pytest.mark.edge

FORBIDDEN = ("tensorflow", "keras", "mtcnn", "tf_keras")
DYNAMIC_ALLOWED = {("edge/litert.py", "tensorflow.lite")}


def test_enrol_and_identify_in_a_fresh_interpreter_load_no_tensorflow(tmp_path):
    for person in (1, 5):
        write(tmp_path / "people" / f"s{person}" / "1.png", orl(person, 1))
        write(tmp_path / "photos" / f"s{person}.png", orl(person, 2))
    code = textwrap.dedent(f"""
        import sys
        from edge.cli_enroll import main as enroll
        from edge.cli_identify import main as identify
        from edge.litert import RUNTIME
        common = ["--bundle", {BUNDLE!r}, "--gallery", {str(tmp_path / "g.db")!r}]
        for command, args in ((enroll, ["--from-dir", {str(tmp_path / "people")!r}]),
                              (identify, ["--images", {str(tmp_path / "photos")!r}, "--json"])):
            try:
                command.main(args + common, standalone_mode=False)
            except SystemExit as exc:
                assert not exc.code, exc.code
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in {FORBIDDEN!r})
        print("RUNTIME", RUNTIME)
        print("FORBIDDEN", loaded)
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=ENV, timeout=180, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert "2 of 2 people enrolled" in proc.stdout
    assert sum('"name": "s' in line for line in lines) == 2  # both photos named
    assert "FORBIDDEN []" in lines, proc.stdout
    assert any(line in ("RUNTIME ai_edge_litert", "RUNTIME tflite_runtime") for line in lines), \
        proc.stdout


def _imports(tree):
    """Every module an AST imports: import statements (anywhere, even in functions) and
    string arguments of importlib.import_module / __import__ calls."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, False
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            yield node.lineno, node.module, False
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in ("import_module", "__import__") and node.args \
                    and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                yield node.lineno, node.args[0].value, True


def test_no_file_under_edge_or_gallery_imports_tensorflow_keras_or_mtcnn():
    files = sorted((ROOT / "edge").rglob("*.py")) + sorted((ROOT / "gallery").rglob("*.py"))
    assert len(files) > 20
    found = []
    for path in files:
        rel = path.relative_to(ROOT).as_posix()
        for line, module, dynamic in _imports(ast.parse(path.read_text(), rel)):
            if module.split(".")[0] in FORBIDDEN:
                if not (dynamic and (rel, module) in DYNAMIC_ALLOWED):
                    found.append(f"{rel}:{line} imports {module}")
    assert found == []


def test_the_one_allowed_fallback_is_only_a_last_resort():
    """edge/litert.py tries LiteRT and tflite_runtime first; with either installed (as on
    the device and in the edge-only venvs) tensorflow.lite is never reached."""
    from edge import litert

    assert litert.RUNTIME in ("ai_edge_litert", "tflite_runtime")
    source = (ROOT / "edge" / "litert.py").read_text()
    assert source.index("ai_edge_litert") < source.index("tflite_runtime") \
        < source.index('import_module("tensorflow.lite")')


def test_no_file_under_gallery_imports_click_opencv_or_the_runtime():
    """gallery/ is a library of SQLite and numpy: its command lives in edge/cli_gallery.py,
    its thumbnails' PNG codec is zlib."""
    found = []
    for path in sorted((ROOT / "gallery").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        for line, module, _ in _imports(ast.parse(path.read_text(), rel)):
            if module.split(".")[0] in ("click", "cv2", "edge"):
                found.append(f"{rel}:{line} imports {module}")
    assert found == []
