"""edge-gallery: each verb, one clear error line, and what the package may import."""
import ast
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import types
import zipfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import gallery
from gallery import Gallery, schema
from edge.cli_gallery import cli
from tests.conftest import write_locked

MODEL_A = hashlib.sha256(b"model a").hexdigest()
MODEL_B = hashlib.sha256(b"model b").hexdigest()
ROOT = Path(gallery.__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def face(seed):
    return np.random.default_rng(seed).integers(0, 256, (16, 16), dtype=np.uint8)


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "g.db"
    with Gallery(path) as g:
        for i, name in enumerate(["Ada", "Zoë", "李小龙"]):
            g.enrol(name, np.random.default_rng(i).normal(size=64), MODEL_A, face(i),
                    source="camera:0", quality=0.9)
    return path


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def ok(*args):
    result = run(*args)
    assert result.exit_code == 0, result.output
    return result.stdout


def fails(*args, match=""):
    """The command fails with exactly one line on stderr, and no traceback."""
    result = run(*args)
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    assert match in lines[0], lines[0]
    return lines[0]


def test_list_and_show(db, tmp_path):
    out = ok("list", "--gallery", db)
    assert "Ada" in out and "李小龙" in out and "3 people, 3 embeddings" in out
    data = json.loads(ok("list", "--gallery", db, "--json"))
    assert [p["name"] for p in data["people"]] == ["Ada", "Zoë", "李小龙"]
    assert data["models"] == [MODEL_A]
    assert "camera:0" in ok("show", "Zoë", "--gallery", db)
    shown = json.loads(ok("show", "Zoë", "--gallery", db, "--json",
                          "--thumbnails", tmp_path / "crops"))
    assert shown["name"] == "Zoë" and shown["enrolments"][0]["dim"] == 64
    saved = tmp_path / "crops" / f"{shown['enrolments'][0]['id']}.png"
    assert np.array_equal(gallery.png.decode(saved.read_bytes()), face(1))


def test_help_with_h_on_the_command_and_every_verb():
    assert "Look after the gallery" in ok("-h") and ok("-h") == ok("--help")
    assert set(cli.commands) >= {"list", "show", "remove", "rename", "export", "import",
                                 "check", "reembed"}
    for verb, command in cli.commands.items():
        out = ok(verb, "-h")  # arguments a verb needs are not asked for
        assert out.startswith(f"Usage: cli {verb} ") and "-h, --help" in out, verb
        assert command.help.split("\n")[0].strip() in out


def test_gallery_from_environment(db, monkeypatch):
    monkeypatch.setenv("EDGE_GALLERY", str(db))
    assert "Ada" in ok("list")


def test_remove_rename_and_user_errors(db):
    ok("rename", "Ada", "Ada Lovelace", "--gallery", db)
    fails("rename", "Zoë", "Ada Lovelace", "--gallery", db, match="already enrolled")
    fails("rename", "Zoë", "", "--gallery", db, match="empty")
    fails("rename", "Zoë", "x" * 65, "--gallery", db, match="64")
    fails("rename", "Zoë", "a\x1bb", "--gallery", db, match="control character")
    fails("show", "Ada", "--gallery", db, match="did you mean 'Ada Lovelace'")
    assert "removed 李小龙 (1 embedding)" in ok("remove", "李小龙", "--gallery", db, "--yes")
    fails("remove", "李小龙", "--gallery", db, match="no one named")
    assert [p["name"] for p in json.loads(ok("list", "--gallery", db, "--json"))["people"]] \
        == ["Ada Lovelace", "Zoë"]


def test_names_are_found_without_regard_to_case(db):
    fails("rename", "zoë", "ADA", "--gallery", db, match="'ADA' is already enrolled as 'Ada'")
    assert ok("rename", "ZOË", "Zoë Lovelace", "--gallery", db) == \
        "renamed Zoë to Zoë Lovelace\n"
    assert "Zoë Lovelace: enrolled" in ok("show", "ZOË LOVELACE", "--gallery", db)
    assert "removed Ada" in ok("remove", "-y", "ada", "--gallery", db)
    fails("rename", "李小龙", "\u200b\u200d", "--gallery", db, match="visible character")


def test_check_reports_names_differing_only_by_case(db):
    with Gallery(db) as g:  # as a gallery made before names were compared so
        g._conn.execute("UPDATE people SET name = 'ADA', key = 'ada' WHERE name = 'Zoë'")
    result = run("check", "--gallery", db)
    assert result.exit_code == 1
    assert "'ADA' and 'Ada' are one name (case and Unicode form aside)" in result.stdout
    assert "Ada" in ok("show", "Ada", "--gallery", db)  # each found by its own spelling
    fails("show", "ada", "--gallery", db, match="'ada' could be 'ADA' or 'Ada'")


def test_remove_asks_first_unless_yes(db, monkeypatch):
    from edge import cli_gallery

    line = fails("remove", "Ada", "--gallery", db, match="no terminal to answer: add --yes")
    assert line == ("Error: edge-gallery remove asks before forgetting Ada, and there is no "
                    "terminal to answer: add --yes")
    fails("remove", "Nobody", "--gallery", db, match="no one named 'Nobody'")  # said first
    monkeypatch.setattr(cli_gallery, "_interactive", lambda: True)
    answered = CliRunner().invoke(cli, ["remove", "Ada", "--gallery", str(db)], input="n\n")
    assert answered.exit_code == 1 and answered.stdout == ""
    assert f"Remove Ada and their 1 stored face from {db}? [y/N]" in answered.stderr
    assert answered.stderr.strip().endswith("nothing removed")
    answered = CliRunner().invoke(cli, ["remove", "Ada", "--gallery", str(db)], input="\n")
    assert answered.exit_code == 1  # the default is no
    assert "Ada" in ok("list", "--gallery", db)
    answered = CliRunner().invoke(cli, ["remove", "Ada", "--gallery", str(db)], input="y\n")
    assert answered.exit_code == 0 and answered.stdout == "removed Ada (1 embedding)\n"
    assert "removed Zoë" in ok("remove", "-y", "Zoë", "--gallery", db)
    assert [p["name"] for p in json.loads(ok("list", "--gallery", db, "--json"))["people"]] \
        == ["李小龙"]


def test_bad_gallery_files(tmp_path):
    fails("list", "--gallery", tmp_path / "missing.db", match="no gallery")
    assert not (tmp_path / "missing.db").exists()
    (tmp_path / "junk.db").write_bytes(b"\x00junk" * 500)
    fails("list", "--gallery", tmp_path / "junk.db", match="not a readable gallery")
    newer = tmp_path / "newer.db"
    Gallery(newer).close()
    with Gallery(newer) as g:
        g._conn.execute("PRAGMA user_version = 5")
    fails("check", "--gallery", newer, match="upgrade siamese-edge")


def test_export_import_check(db, tmp_path):
    out = tmp_path / "people.zip"
    assert "exported 3 people (3 embeddings)" in ok("export", out, "--gallery", db)
    other = tmp_path / "other.db"
    assert "3 added" in ok("import", out, "--gallery", other)
    fails("import", out, "--gallery", other, match="--skip, --replace or --append")
    assert "3 skipped" in ok("import", out, "--gallery", other, "--skip")
    assert "3 appended" in ok("import", out, "--gallery", other, "--append")
    assert "3 replaced" in ok("import", out, "--gallery", other, "--replace")
    fails("export", tmp_path / "nowhere" / "x.zip", "--gallery", db, match="no folder")
    assert ok("check", "--gallery", other).strip().endswith("ok (3 people, 3 embeddings)")
    assert json.loads(ok("check", "--gallery", other, "--json"))["ok"] is True
    damaged = tmp_path / "damaged.zip"
    with zipfile.ZipFile(out) as zin, zipfile.ZipFile(damaged, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item)
            zout.writestr(item, data.replace(b"Ada", b"Eve") if item.filename == "data.json"
                          else data)
    fails("import", damaged, "--gallery", tmp_path / "third.db", match="checksum")
    assert not (tmp_path / "third.db").exists()  # no gallery made for a refused file
    with Gallery(tmp_path / "b.db") as g:
        g.enrol("Bob", np.ones(64), MODEL_B, face(9))
    fails("import", out, "--gallery", tmp_path / "b.db", match="reembed")


def test_an_export_that_would_unpack_to_too_much_is_refused(tmp_path):
    from tests.test_gallery_archive import MiB, zip_of_zeros

    bomb = zip_of_zeros(tmp_path / "bomb.zip", {"data.json": 65 * MiB})
    fails("import", bomb, "--gallery", tmp_path / "g.db",
          match="data.json would unpack to 65.0 MiB, more than the 64.0 MiB")
    assert not (tmp_path / "g.db").exists()


def test_signed_export_and_import(db, tmp_path):
    (tmp_path / "key").write_text("a shared secret of 32 bytes....\n")
    (tmp_path / "other").write_text("another secret, of 32 bytes too.\n")
    (tmp_path / "short").write_text("short\n")
    signed = tmp_path / "signed.zip"
    assert "to " + str(signed) + " (signed)" in ok(
        "export", signed, "--gallery", db, "--sign-key-file", tmp_path / "key")
    ok("export", tmp_path / "plain.zip", "--gallery", db)
    new = tmp_path / "new.db"
    fails("import", signed, "--gallery", new, "--verify-key-file", tmp_path / "other",
          match=f"{signed} is not signed with this key, or was changed after it was signed")
    fails("import", tmp_path / "plain.zip", "--gallery", new, "--verify-key-file",
          tmp_path / "key", match="is not signed, and a signed export was asked for")
    fails("import", signed, "--gallery", new, "--verify-key-file", tmp_path / "short",
          match="holds 5 bytes; a key needs at least 16")
    fails("export", tmp_path / "x.zip", "--gallery", db, "--sign-key-file", tmp_path / "none",
          match="cannot read the key file")
    assert not new.exists() and not (tmp_path / "x.zip").exists()
    assert "3 added" in ok("import", signed, "--gallery", new, "--verify-key-file",
                           tmp_path / "key")


def test_check_reports_problems(db):
    with Gallery(db) as g:
        g._conn.execute("DELETE FROM thumbnails")
    result = run("check", "--gallery", db)
    assert result.exit_code == 1 and "3 problems" in result.stdout
    report = json.loads(run("check", "--gallery", db, "--json").stdout)
    assert report["ok"] is False and len(report["problems"]) == 3


def test_reembed_with_a_bundle(db, monkeypatch):
    monkeypatch.setitem(sys.modules, "edge.bundle", None)  # as if not installed
    fails("reembed", "--bundle", "x", "--gallery", db, match="cannot load bundles")

    class Embedder:
        sha256 = MODEL_B

        def embed(self, faces):
            if faces[0].shape != (16, 16):
                raise ValueError("faces are the wrong size")
            x = np.stack(faces).reshape(len(faces), -1).astype(np.float32)
            return x[:, :32] + 1.0

    asked = []

    def load_embedder(path_or_name, threads, variant=None):
        if path_or_name == "missing":
            raise FileNotFoundError(f"no bundle called {path_or_name!r}")
        asked.append(variant)
        return Embedder()
    bundle = types.ModuleType("edge.bundle")
    bundle.load_embedder = load_embedder
    monkeypatch.setitem(sys.modules, "edge.bundle", bundle)
    fails("reembed", "--bundle", "missing", "--gallery", db, match="no bundle called")
    with Gallery(db) as g:
        g.enrol("Bad", np.ones(64), MODEL_A, np.zeros((4, 4), np.uint8))
    fails("reembed", "--bundle", "new", "--gallery", db, match="cannot take the stored faces")
    with Gallery(db) as g:
        g.remove("Bad")
        assert g.models() == [MODEL_A]
    assert "re-embedded 3 embeddings" in ok("reembed", "--bundle", "new", "--variant", "fp32",
                                            "--gallery", db)
    assert asked[-1] == "fp32"
    with Gallery(db) as g:
        assert g.models() == [MODEL_B]


# -- a gallery that cannot be written: one line, exit 1, nothing written ----------------

@pytest.fixture
def writes(tmp_path, monkeypatch):
    """Each verb that writes the gallery, as arguments: remove, rename, import (of an
    export holding someone new) and reembed (with a bundle of numpy)."""
    with Gallery(tmp_path / "other.db") as g:
        g.enrol("Bob", np.ones(64), MODEL_A, face(9))
        g.export(tmp_path / "bob.zip")

    class Embedder:
        sha256 = MODEL_B

        def embed(self, faces):
            return np.stack(faces).reshape(len(faces), -1)[:, :32].astype(np.float32) + 1

    bundle = types.ModuleType("edge.bundle")
    bundle.load_embedder = lambda name, threads, variant=None: Embedder()
    monkeypatch.setitem(sys.modules, "edge.bundle", bundle)
    return [["remove", "-y", "Ada"], ["rename", "Ada", "Ada Lovelace"],
            ["import", tmp_path / "bob.zip"], ["reembed", "--bundle", "new"]]


def test_verbs_that_write_refuse_a_read_only_gallery_file(db, writes, read_only):
    stored = db.read_bytes()
    read_only(db)
    for args in writes:
        fails(*args, "--gallery", db,
              match=f"cannot write the gallery {db}: the file is read-only; nothing was written")
    assert "3 people, 3 embeddings" in ok("list", "--gallery", db)  # reading it is fine
    assert db.read_bytes() == stored


def test_a_gallery_in_a_read_only_folder(db, writes, tmp_path, read_only):
    """SQLite keeps a gallery's -wal and -shm files beside it, so even reading needs the
    folder writable: every verb says so, and a new gallery is not made there."""
    folder = tmp_path / "shelf"
    folder.mkdir()
    path = Path(shutil.copy(db, folder / "g.db"))
    read_only(folder)
    for args in [["list"], *writes]:
        fails(*args, "--gallery", path, match=f"the gallery {path}: its folder {folder} is "
                                              "read-only, and SQLite keeps its -wal and -shm")
    fails("import", writes[2][1], "--gallery", folder / "new.db",
          match=f"cannot make the gallery {folder / 'new.db'}: the folder {folder} is read-only")
    refusal = "Permission denied" if os.geteuid() else "Operation not permitted"  # chattr
    fails("export", folder / "copy.zip", "--gallery", db,
          match=f"cannot write {folder / 'copy.zip'}: {refusal}")
    assert os.listdir(folder) == ["g.db"] and path.read_bytes() == db.read_bytes()


def test_a_gallery_path_under_a_file(writes, tmp_path):
    notes = tmp_path / "somefile.txt"
    notes.write_text("not a folder")
    path = notes / "g.db"
    for args in [["list"], ["check"], *writes]:
        fails(*args, "--gallery", path,
              match=f"no gallery can be at {path}: {notes} is a file, not a folder")
    assert notes.read_text() == "not a folder"


def test_a_gallery_busy_beyond_the_wait(db, writes, monkeypatch):
    """Another process holds the write lock for longer than the busy wait (10 s; half a
    second here): each verb that writes says the gallery is busy; readers go on."""
    monkeypatch.setattr(schema, "BUSY_TIMEOUT_S", 0.5)
    with write_locked(db):
        for args in writes:
            start = time.monotonic()
            fails(*args, "--gallery", db, match=f"the gallery {db} is busy: another program "
                                                "has been writing to it for over 0.5 s")
            assert time.monotonic() - start >= 0.5
        assert "3 people, 3 embeddings" in ok("list", "--gallery", db)
    assert json.loads(ok("list", "--gallery", db, "--json"))["models"] == [MODEL_A]
    assert "3 people, 3 embeddings" in ok("list", "--gallery", db)


def test_runs_as_a_module(db):
    proc = subprocess.run([sys.executable, "-m", "edge.cli_gallery", "show", "Nobody",
                           "--gallery", str(db)], capture_output=True, text=True,
                          env=ENV, timeout=60)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "no one named 'Nobody'" in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "edge.cli_gallery", "list", "--gallery", str(db)],
                          capture_output=True, text=True, env=ENV, timeout=60)
    assert proc.returncode == 0 and "Zoë" in proc.stdout


# -- what gallery may import ------------------------------------------------------------

FORBIDDEN = ("tensorflow", "keras", "mtcnn")


def test_fresh_interpreter_loads_no_tensorflow():
    code = ("import pkgutil, importlib, sys, gallery\n"
            "for m in pkgutil.iter_modules(gallery.__path__):\n"
            "    importlib.import_module('gallery.' + m.name)\n"
            f"print(sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r}))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=ENV, timeout=60, check=True)
    assert proc.stdout.strip() == "[]"


def test_source_imports_only_what_the_rules_allow():
    """Even lazy imports inside functions: the standard library (sqlite3, zlib for the
    PNG thumbnails), numpy and platformdirs only: no click, no OpenCV, nothing of edge."""
    allowed = set(sys.stdlib_module_names) | {"numpy", "platformdirs"}
    for source in (ROOT / "gallery").glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Import):
                modules = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                modules = [node.module]
            else:
                continue
            for module in modules:
                assert module.split(".")[0] in allowed, f"{source.name} imports {module}"


def test_damaged_gallery_file_never_gives_a_traceback(db, tmp_path):
    import random
    import sqlite3
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything into the main file
    conn.close()
    data = db.read_bytes()
    rng = random.Random(0)
    for trial in range(60):
        damaged = bytearray(data)
        for _ in range(rng.choice([1, 8, 64])):
            damaged[rng.randrange(len(damaged))] ^= rng.randrange(1, 256)
        path = tmp_path / f"damaged{trial}.db"
        path.write_bytes(damaged)
        for args in (["list"], ["check"], ["show", "Ada"], ["export", tmp_path / "x.zip"],
                     ["rename", "Ada", "Eve"], ["remove", "-y", "Zoë"]):
            result = run(*args, "--gallery", path)
            assert result.exit_code in (0, 1), result.output
            assert result.exception is None or isinstance(result.exception, SystemExit), \
                f"{args[0]} on damaged copy {trial}: {result.exception!r}"
