"""Shared fixtures, the marks and ``make test-fast``. Real data comes from ../shared/data
(always present on CI).

Marks (registered in setup.cfg):

- ``tf``: needs TensorFlow, Keras or mtcnn (the train extra). Set here, from each test
  module's imports (``tests/tf_imports.py``), so a new test module is marked without anyone
  remembering to, and every test using a fixture in ``TF_FIXTURES``; a test that reaches
  them only through a project function's lazy import carries ``@pytest.mark.tf`` by hand.
- ``slow``: trains, converts or kills processes for minutes; ``edge``: the device runtime.

``make test-fast`` is ``pytest --no-tensorflow``: the modules that import TensorFlow are
not even imported, the other ``tf`` tests are deselected, and tensorflow, keras and mtcnn
are made unimportable, so a test that needs them but is not marked fails at once with a
line saying so (instead of quietly making the fast run slow).

Timeouts (pytest-timeout): the default in setup.cfg holds every unmarked test; tests marked
``slow`` or ``tf`` get ``SLOW_TIMEOUT`` unless they carry their own ``@pytest.mark.timeout``.
"""
from __future__ import annotations

import os
import shutil
import sqlite3
import struct
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.tf_imports import TF_PACKAGES, tf_chain

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("SIAMESE_EDGE_DATA", ROOT.parent / "shared" / "data"))
SLOW_TIMEOUT = 900  # seconds, setup (a session fixture's training or export) included
TF_FIXTURES = {"orl_prepared"}  # fixtures that run mtcnn or Keras: their users are `tf`


def need_data(*parts) -> Path:
    path = DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data missing: {path} (see ../shared/data/README.md)")
    return path


@pytest.fixture
def read_only():
    """``read_only(path)``: the file or folder ``path`` cannot be written until the test
    ends, even by root.

    Not root: its write permission bits are taken away. Root ignores those (the tests
    here run as root), so as root it is made immutable (``chattr +i``), which root
    obeys; the test is skipped on a file system without that attribute (tmpfs).
    """
    root, made = os.geteuid() == 0, []

    def make(path):
        path = Path(path)
        if not root:
            path.chmod(path.stat().st_mode & ~0o222)
        elif shutil.which("chattr") is None or subprocess.run(
                ["chattr", "+i", str(path)], capture_output=True).returncode != 0:
            pytest.skip("as root only an immutable file is read-only, and chattr +i "
                        f"does not work on {path}")
        made.append(path)
        assert not os.access(path, os.W_OK)
        return path

    yield make
    for path in reversed(made):
        if root:
            subprocess.run(["chattr", "-i", str(path)], check=True)
        else:
            path.chmod(path.stat().st_mode | 0o200)


HOLD_LOCK = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")  # the write lock, as a long enrolment or import holds it
print("locked", flush=True)
sys.stdin.read()  # until the test closes our stdin
"""


@contextmanager
def write_locked(path):
    """Another process holds the gallery ``path``'s write lock while inside."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(path)], text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert proc.stdout.readline().strip() == "locked"
        yield proc
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)


def damage_a_page(path, table: str = "thumbnails") -> str:
    """Overwrite 16 bytes in the middle of ``table``'s first page in the gallery file
    ``path`` (closed), as a failing SD card might: at the record starting nearest the
    middle, so its header (length, row id) is lost. Returns what SQLite's quick check
    now says, having made sure it notices (damage in free space or inside a thumbnail's
    own bytes would go unseen by it, and by any check short of decoding every PNG)."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything into the main file
    size = conn.execute("PRAGMA page_size").fetchone()[0]
    page = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?",
                        (table,)).fetchone()[0]
    conn.close()
    with open(path, "r+b") as f:
        f.seek((page - 1) * size)
        data = f.read(size)
        header = 12 if data[0] in (2, 5) else 8  # an interior page's is longer
        count = struct.unpack(">H", data[3:5])[0]
        starts = struct.unpack(f">{count}H", data[header:header + 2 * count])
        f.seek((page - 1) * size + min(starts, key=lambda at: abs(at - size // 2)))
        f.write(b"\xff" * 16)
    conn = sqlite3.connect(path)
    try:
        found = [row[0] for row in conn.execute("PRAGMA quick_check")]
    except sqlite3.DatabaseError as exc:  # "database disk image is malformed"
        found = [str(exc)]
    except MemoryError:  # a length so damaged that SQLite cannot allocate it
        found = ["out of memory"]
    finally:
        conn.close()
    assert found != ["ok"], "the quick check does not see this damage"
    return found[0]


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return need_data()


@pytest.fixture(scope="session")
def orl_prepared(tmp_path_factory):
    """ORL prepared through the real pipeline (mtcnn, five-point alignment), 64 px grey:
    (train folder s1..s20, eval folder s21..s40)."""
    from train.prepare import Settings, prepare

    orl = need_data("orl")
    root = tmp_path_factory.mktemp("orl")
    out = []
    for split, ids in (("train", range(1, 21)), ("eval", range(21, 41))):
        src = root / f"src_{split}"
        src.mkdir()
        for i in ids:
            (src / f"s{i}").symlink_to(orl / f"s{i}", target_is_directory=True)
        prepare(src, root / split, Settings(size=64, whole_if_no_face=True), progress=False)
        out.append(root / split)
    return tuple(out)


# -- marks and make test-fast -------------------------------------------------------------

class _NoTensorFlow:
    """A meta-path finder that makes tensorflow, keras, tf_keras and mtcnn unimportable."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in TF_PACKAGES:
            raise ModuleNotFoundError(
                f"{name} is blocked in make test-fast (pytest --no-tensorflow): this test needs "
                "TensorFlow; mark it @pytest.mark.tf (see tests/conftest.py)", name=name)
        return None


_left_out: dict[str, dict[str, None]] = {"modules": {}, "tests": {}}  # ordered sets


def pytest_addoption(parser):
    parser.addoption("--no-tensorflow", action="store_true",
                     help="Run only the tests that need no TensorFlow (not marked tf), with "
                          "tensorflow, keras and mtcnn unimportable: make test-fast.")


def pytest_configure(config):
    if config.getoption("no_tensorflow"):
        loaded = sorted(m for m in TF_PACKAGES if m in sys.modules)
        if loaded:
            raise pytest.UsageError(f"--no-tensorflow: {', '.join(loaded)} already imported")
        sys.meta_path.insert(0, _NoTensorFlow())


def pytest_ignore_collect(collection_path, config):
    if (config.getoption("no_tensorflow") and collection_path.suffix == ".py"
            and collection_path.name.startswith("test_") and tf_chain(collection_path)):
        chain = " -> ".join(tf_chain(collection_path))
        _left_out["modules"][f"{collection_path.name} ({chain})"] = None
        return True
    return None


def pytest_collection_modifyitems(config, items):
    timeouts = config.pluginmanager.hasplugin("timeout")
    # a longer --timeout on the command line (the emulated Pi's) holds slow tests too
    slow_timeout = max(SLOW_TIMEOUT, float(timeouts and config.getoption("timeout") or 0))
    for item in items:
        if tf_chain(item.path) or TF_FIXTURES & set(item.fixturenames):
            item.add_marker(pytest.mark.tf)
        if (timeouts and (item.get_closest_marker("slow") or item.get_closest_marker("tf"))
                and not item.get_closest_marker("timeout")):
            item.add_marker(pytest.mark.timeout(slow_timeout))
    if config.getoption("no_tensorflow"):
        tf = [item for item in items if item.get_closest_marker("tf")]
        if tf:
            _left_out["tests"] = dict.fromkeys(item.nodeid for item in tf)
            config.hook.pytest_deselected(items=tf)
            items[:] = [item for item in items if not item.get_closest_marker("tf")]


def pytest_terminal_summary(terminalreporter, config):
    if config.getoption("no_tensorflow"):
        modules, tests = _left_out["modules"], _left_out["tests"]
        terminalreporter.write_line(
            f"--no-tensorflow: left to make test, as they need TensorFlow: {len(modules)} test "
            f"modules, not imported ({', '.join(sorted(modules)) or 'none'}), and "
            f"{len(tests)} more tests")
