"""Shared fixtures. Real data comes from ../shared/data (always present on CI)."""
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

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("SIAMESE_EDGE_DATA", ROOT.parent / "shared" / "data"))


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
