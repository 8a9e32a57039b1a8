"""The gallery file: storage, names, enrolment rules, schema, thumbnails, re-embedding,
and the store as the one module that speaks SQL."""
import ast
import hashlib
import re
import sqlite3
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

import gallery as gallery_package
from tests.conftest import damage_a_page
from gallery import (AmbiguousName, CorruptFile, DuplicatePerson, Gallery, GalleryError,
                     InvalidName, ModelMismatch, SchemaTooNew, UnknownPerson, clean_name, png,
                     schema)

MODEL_A = hashlib.sha256(b"model a").hexdigest()
MODEL_B = hashlib.sha256(b"model b").hexdigest()


def vec(seed, dim=128):
    return np.random.default_rng(seed).normal(size=dim).astype(np.float32)


def face(seed, shape=(16, 16)):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


@pytest.fixture
def gallery(tmp_path):
    with Gallery(tmp_path / "g.db") as g:
        yield g


class ProjectionEmbedder:
    """A real embedder in numpy: a fixed random projection of the pixels, L2-normalised."""

    def __init__(self, dim=32, size=16, seed=1):
        self.proj = np.random.default_rng(seed).normal(size=(size * size, dim))
        self.sha256 = hashlib.sha256(f"projection {dim} {size} {seed}".encode()).hexdigest()

    def embed(self, faces):
        x = np.stack([f if f.ndim == 2 else f.mean(axis=2) for f in faces]) / 255.0
        e = (x.reshape(len(faces), -1) @ self.proj).astype(np.float32)
        return e / np.linalg.norm(e, axis=1, keepdims=True)


# -- storage ------------------------------------------------------------------------------

def test_enrol_stores_everything(gallery):
    eid = gallery.enrol("Ada", vec(1), MODEL_A, face(1), source="camera:0", quality=0.75)
    (ada,) = gallery.people()
    assert ada.name == "Ada" and len(ada.enrolments) == 1
    e = ada.enrolments[0]
    assert (e.id, e.dim, e.model_sha256, e.source, e.quality) == (eid, 128, MODEL_A,
                                                                   "camera:0", 0.75)
    names, matrix = gallery.embeddings(MODEL_A)
    assert names == ["Ada"] and matrix.dtype == np.float32 and matrix.shape == (1, 128)
    expected = vec(1) / np.linalg.norm(vec(1))
    np.testing.assert_allclose(matrix[0], expected, rtol=1e-6)
    assert np.array_equal(png.decode(gallery.thumbnail(eid)), face(1))
    assert gallery.models() == [MODEL_A]
    assert gallery.check() == []


def test_file_settings(gallery):
    conn = sqlite3.connect(gallery.path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == schema.VERSION == 3
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"people", "embeddings", "thumbnails", "sightings", "rejections"} <= tables
    assert gallery._conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 1000
    conn.close()


def test_duplicate_refused_append_adds(gallery):
    gallery.enrol("Ada", vec(1), MODEL_A, face(1))
    with pytest.raises(DuplicatePerson):
        gallery.enrol("Ada", vec(2), MODEL_A, face(2))
    gallery.enrol("Ada", vec(2), MODEL_A, face(2), append=True)
    gallery.enrol("Bob", vec(3), MODEL_A, face(3), append=True)  # append creates too
    assert [len(p.enrolments) for p in gallery.people()] == [2, 1]


def test_remove_and_rename(gallery):
    gallery.enrol("Ada", vec(1), MODEL_A, face(1))
    gallery.enrol("Ada", vec(2), MODEL_A, face(2), append=True)
    gallery.enrol("Bob", vec(3), MODEL_A, face(3))
    assert gallery.rename("Ada", "  Ada Lovelace ") == "Ada Lovelace"
    with pytest.raises(DuplicatePerson):
        gallery.rename("Bob", "Ada Lovelace")
    with pytest.raises(UnknownPerson, match="did you mean 'Ada Lovelace'"):
        gallery.person("Ada Lovelac")
    assert gallery.remove("Ada Lovelace") == 2
    assert [p.name for p in gallery.people()] == ["Bob"]
    n = gallery._conn.execute("SELECT count(*) FROM thumbnails").fetchone()[0]
    assert n == 1  # the removed person's thumbnails went with them
    with pytest.raises(UnknownPerson):
        gallery.remove("Ada Lovelace")
    assert gallery.check() == []


def test_model_and_size_must_agree(gallery):
    gallery.enrol("Ada", vec(1), MODEL_A, face(1))
    with pytest.raises(ModelMismatch, match="reembed") as caught:
        gallery.enrol("Bob", vec(2), MODEL_B, face(2))
    assert (caught.value.gallery, caught.value.stored, caught.value.offered) == \
        (gallery.path, MODEL_A, MODEL_B)
    with pytest.raises(GalleryError, match="128 values"):
        gallery.enrol("Bob", vec(2, dim=64), MODEL_A, face(2))
    with pytest.raises(GalleryError, match="64 hex"):
        gallery.enrol("Bob", vec(2), "not-a-sha", face(2))
    assert [p.name for p in gallery.people()] == ["Ada"]


def test_the_reembed_hint_is_a_command_to_paste(tmp_path, monkeypatch):
    """--gallery only when edge-gallery would not open that file by itself; quoted."""
    import gallery.store
    from gallery.errors import model_mismatch, reembed_command

    monkeypatch.setattr(gallery.store, "default_path", lambda: tmp_path / "default.db")
    monkeypatch.delenv("EDGE_GALLERY", raising=False)
    mine = tmp_path / "my faces.db"
    assert reembed_command(tmp_path / "default.db") == "edge-gallery reembed --bundle NEW"
    assert reembed_command(mine, "fast", "fp32") == \
        f"edge-gallery reembed --bundle fast --variant fp32 --gallery '{mine}'"
    monkeypatch.setenv("EDGE_GALLERY", str(mine))
    assert reembed_command(mine, "fast") == "edge-gallery reembed --bundle fast"
    assert reembed_command(tmp_path / "default.db", "fast").endswith(
        f"--gallery {tmp_path / 'default.db'}")
    message = str(model_mismatch(mine, MODEL_A, MODEL_B, "fast"))
    assert len(message.splitlines()) == 1 and "no longer match" in message
    assert message.startswith(f"the gallery {mine} holds embeddings made by model "
                              f"{MODEL_A[:12]}, not by {MODEL_B[:12]}")
    assert message.endswith("with: edge-gallery reembed --bundle fast")


@pytest.mark.parametrize("bad", [np.zeros(128), np.full(128, np.nan), np.zeros(0)])
def test_bad_vectors_refused(gallery, bad):
    with pytest.raises(GalleryError):
        gallery.enrol("Ada", bad, MODEL_A, face(1))
    assert gallery.people() == []


def test_failed_batch_leaves_nothing(gallery):
    gallery.enrol("Ada", vec(1), MODEL_A, face(1))
    with pytest.raises(DuplicatePerson):
        with gallery.batch():
            gallery.enrol("Bob", vec(2), MODEL_A, face(2))
            gallery.enrol("Ada", vec(3), MODEL_A, face(3))
    assert [p.name for p in gallery.people()] == ["Ada"]
    with gallery.batch():  # a failure caught inside a batch undoes only itself
        gallery.enrol("Bob", vec(2), MODEL_A, face(2))
        with pytest.raises(DuplicatePerson):
            gallery.enrol("Bob", vec(3), MODEL_A, face(3))
    assert [len(p.enrolments) for p in gallery.people()] == [1, 1]


# -- names --------------------------------------------------------------------------------

@pytest.mark.parametrize("name", [
    "Zoë", "李小龙", "Владимир", "नमस्ते", "O'Brien-Smith", "x" * 64,
    "\u0645\u062d\u0645\u062f\u200c\u0639\u0644\u06cc",  # Persian, with a non-joiner
    "\U0001f469\u200d\U0001f52c Marie",  # an emoji joined by ZWJ
])
def test_names_in_any_script(gallery, name):
    gallery.enrol(name, vec(1), MODEL_A, face(1))
    assert gallery.person(name).name == name


def test_names_are_nfc_and_trimmed(gallery):
    decomposed = "Zoe\u0308"  # e + combining diaeresis
    gallery.enrol(f"  {decomposed}\n", vec(1), MODEL_A, face(1))
    assert gallery.people()[0].name == "Zo\u00eb"
    assert gallery.person(decomposed).name == "Zo\u00eb"  # found whichever form is typed
    assert gallery.has(decomposed) and gallery.has(" Zo\u00eb ")
    assert not gallery.has("Zoe") and not gallery.has("")   # "" is not even a valid name
    with pytest.raises(DuplicatePerson):
        gallery.enrol("Zo\u00eb", vec(2), MODEL_A, face(2))


@pytest.mark.parametrize("name", ["", "   ", "\t\n", "x" * 65, "Ada\x00", "Ada\x07Bob",
                                  "Ada\nBob", "Ada\u200bBob", "Ada\u202eBob", "\ud800", None])
def test_bad_names_refused(gallery, name):
    with pytest.raises(InvalidName):
        gallery.enrol(name, vec(1), MODEL_A, face(1))
    assert gallery.people() == []


@pytest.mark.parametrize("name, reason", [
    ("\u200b", "visible character"), ("\u200d", "visible character"),
    ("\u200c\u200d", "visible character"), ("\ufeff", "visible character"),
    ("\u0301", "visible character"), (" \u200b\u00a0\u3000", "visible character"),
    ("\u3164", "visible character"), ("\u2800\u2800", "visible character"),
    ("\u0301\u0308", "visible character"),
    ("Ada\u200bBob", "invisible control character U+200B (ZERO WIDTH SPACE)"),
    ("Ada\ufeff", "invisible control character U+FEFF"),
    ("Ada\u00adBob", "invisible control character U+00AD (SOFT HYPHEN)"),
    ("Ada\u3164Bob", "invisible character U+3164 (HANGUL FILLER)"),
    ("Ada\u2028Bob", "invisible character U+2028 (LINE SEPARATOR)"),
    ("Ada\u200d", "joins nothing"), ("\u200cAda", "joins nothing"),
    ("Ada \u200dBob", "joins nothing"), ("Ada\u200d\u200dBob", "joins nothing"),
    ("\u0301Ada", "begins with the combining mark U+0301"),
])
def test_invisible_names_and_characters_refused(gallery, name, reason):
    """Nothing but invisible characters is no name; invisible characters inside one are
    refused rather than stripped, so what is stored is what was given."""
    with pytest.raises(InvalidName, match=re.escape(reason)) as info:
        gallery.enrol(name, vec(1), MODEL_A, face(1))
    assert "\n" not in str(info.value) and "\u2028" not in str(info.value)
    assert gallery.people() == []


@pytest.mark.parametrize("same", ["alan turing", "ALAN TURING", " Alan  Turing ",
                                  "\uff21\uff4c\uff41\uff4e \uff34\uff55\uff52\uff49\uff4e\uff47",
                                  "alan\u00a0turing"])
def test_names_are_one_without_regard_to_case(gallery, same):
    """One person, whether typed "Alan Turing", "alan turing" or "ＡＬＡＮ ＴＵＲＩＮＧ": who
    keeps the spelling first enrolled; every verb finds them by any of these spellings."""
    gallery.enrol("Alan Turing", vec(1), MODEL_A, face(1))
    gallery.enrol("Bob", vec(2), MODEL_A, face(2))
    with pytest.raises(DuplicatePerson, match="already enrolled"):
        gallery.enrol(same, vec(3), MODEL_A, face(3))
    assert gallery.has(same) and gallery.person(same).name == "Alan Turing"
    gallery.enrol(same, vec(3), MODEL_A, face(3), append=True)
    assert [(p.name, len(p.enrolments)) for p in gallery.people()] == [("Alan Turing", 2),
                                                                      ("Bob", 1)]
    with pytest.raises(DuplicatePerson, match="'Alan Turing'"):
        gallery.rename("Bob", same)
    assert gallery.rename(same, "Alan M. Turing") == "Alan M. Turing"
    assert gallery.rename("alan m. turing", "ALAN M. TURING") == "ALAN M. TURING"  # respelt
    assert gallery.remove("Alan M. Turing") == 2
    assert [p.name for p in gallery.people()] == ["Bob"] and gallery.check() == []


def test_the_message_gives_the_stored_spelling(gallery):
    gallery.enrol("Alan Turing", vec(1), MODEL_A, face(1))
    with pytest.raises(DuplicatePerson, match="'alan turing' is already enrolled as "
                                              "'Alan Turing'"):
        gallery.enrol("alan turing", vec(2), MODEL_A, face(2))
    persian = "\u0645\u062d\u0645\u062f\u200c\u0639\u0644\u06cc"  # with a non-joiner
    gallery.enrol(persian, vec(3), MODEL_A, face(3))
    with pytest.raises(DuplicatePerson):  # typed without it: the same name
        gallery.enrol(persian.replace("\u200c", ""), vec(4), MODEL_A, face(4))


def test_names_differing_only_by_case_in_an_older_gallery(gallery):
    """A gallery made before the rule may hold "Ada" and "ADA": it still opens, each is
    found by its exact spelling, any other spelling is ambiguous, and check says so."""
    gallery.enrol("Ada", vec(1), MODEL_A, face(1))
    gallery.enrol("Bob", vec(2), MODEL_A, face(2))
    gallery._conn.execute("UPDATE people SET name = 'ADA', key = 'ada' WHERE name = 'Bob'")
    gallery.close()
    with Gallery(gallery.path) as g:
        assert [p.name for p in g.people()] == ["ADA", "Ada"]
        assert g.person("ADA").name == "ADA" and g.person("Ada").name == "Ada"
        with pytest.raises(AmbiguousName, match="'ada' could be 'ADA' or 'Ada'"):
            g.person("ada")
        with pytest.raises(AmbiguousName):
            g.enrol("ada", vec(3), MODEL_A, face(3), append=True)
        with pytest.raises(DuplicatePerson):
            g.enrol("ada", vec(3), MODEL_A, face(3))
        (problem,) = g.check()
        assert "'ADA' and 'Ada' are one name" in problem and "2 people" in problem
        g.rename("ADA", "Ada Byron")
        assert g.check() == [] and g.person("ada").name == "Ada"


def test_clean_name_messages_are_one_line():
    for name in ["Ada\nBob", "x" * 100, ""]:
        with pytest.raises(InvalidName) as info:
            clean_name(name)
        assert "\n" not in str(info.value)


# -- schema and damaged files -------------------------------------------------------------

def test_newer_schema_refused(tmp_path):
    Gallery(tmp_path / "g.db").close()
    conn = sqlite3.connect(tmp_path / "g.db")
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(SchemaTooNew, match="version 99.*upgrade"):
        Gallery(tmp_path / "g.db")


def test_not_a_gallery(tmp_path):
    (tmp_path / "junk.db").write_bytes(b"this is not a database" * 100)
    with pytest.raises(CorruptFile):
        Gallery(tmp_path / "junk.db")
    conn = sqlite3.connect(tmp_path / "other.db")
    conn.execute("CREATE TABLE songs (title)")
    conn.commit()
    conn.close()
    with pytest.raises(CorruptFile, match="not a siamese-edge gallery"):
        Gallery(tmp_path / "other.db")


def test_missing_file_without_create(tmp_path):
    with pytest.raises(GalleryError, match="no gallery"):
        Gallery(tmp_path / "none.db", create=False)
    assert not (tmp_path / "none.db").exists()


def test_writes_refuse_a_damaged_gallery(tmp_path):
    """Every write runs SQLite's quick check first and refuses a damaged file, pointing
    at edge-gallery check; reading what is still readable goes on."""
    path = tmp_path / "g.db"
    with Gallery(path) as g:
        for i, name in enumerate(["Ada", "Bob", "Cy", "Di"]):
            g.enrol(name, vec(i), MODEL_A, face(i, (112, 112, 3)))
        g.export(tmp_path / "all.zip")
    with Gallery(tmp_path / "eve.db") as g:
        g.enrol("Eve", vec(9), MODEL_A, face(9))
        g.export(tmp_path / "eve.zip")
    damage_a_page(path)
    stored = path.read_bytes()
    with Gallery(path) as g:
        people = g.people()
        for write in (lambda: g.enrol("Eve", vec(9), MODEL_A, face(9)),
                      lambda: g.enrol("Ada", vec(9), MODEL_A, face(9), append=True),
                      lambda: g.rename("Ada", "Ada Lovelace"), lambda: g.remove("Bob"),
                      lambda: g.import_(tmp_path / "eve.zip"),
                      lambda: g.reembed(ProjectionEmbedder(size=112))):
            with pytest.raises(CorruptFile, match=re.escape(
                    f"the gallery {path} is damaged (sqlite: On tree page ") + ".*"
                    + re.escape(f"; nothing was written: see edge-gallery check "
                                f"--gallery {path}")):
                write()
        assert g.people() == people and any("tree page" in p for p in g.check())
    assert path.read_bytes() == stored
    with Gallery(tmp_path / "new.db") as g:  # what an export kept is still good
        g.import_(tmp_path / "all.zip")
        g.rename("Ada", "Ada Lovelace")


def test_damage_that_runs_sqlite_out_of_memory_is_damage(tmp_path):
    """A record whose damaged length asks SQLite for more memory than there is (its
    NOMEM, a MemoryError in Python) is damage like any other: check lists it (it used to
    end edge-gallery check in a traceback) and writes are refused."""
    path = tmp_path / "g.db"
    with Gallery(path) as g:
        g.enrol("Ada", vec(1), MODEL_A, face(1))
    assert damage_a_page(path, "embeddings") == "out of memory"
    with Gallery(path) as g:
        assert g.check() and "claims more memory" in g.integrity(quick=True)[0]
        with pytest.raises(CorruptFile, match="is damaged .*claims more memory"):
            g.enrol("Bob", vec(2), MODEL_A, face(2))


def test_migration_is_all_or_nothing(tmp_path, monkeypatch):
    def broken(conn):
        conn.execute("CREATE TABLE half (x)")
        raise RuntimeError("power cut")
    monkeypatch.setattr(schema, "MIGRATIONS", [schema._create_v1, broken])
    monkeypatch.setattr(schema, "VERSION", 2)
    with pytest.raises(RuntimeError):
        Gallery(tmp_path / "g.db")
    conn = sqlite3.connect(tmp_path / "g.db")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0


def test_check_finds_broken_invariants(gallery):
    gallery.enrol("Ada", vec(1), MODEL_A, face(1))
    gallery.enrol("Bob", vec(2), MODEL_A, face(2))
    conn = gallery._conn
    conn.execute("UPDATE embeddings SET vector = ? WHERE id = 1",
                 (np.ones(128, "<f4").tobytes(),))
    conn.execute("DELETE FROM thumbnails WHERE embedding = 2")
    conn.execute("INSERT INTO people (name, created) VALUES ('Nobody', 'now')")
    problems = gallery.check()
    assert any("unit length" in p for p in problems)
    assert any("no thumbnail" in p for p in problems)
    assert any("'Nobody' has no embeddings" in p for p in problems)


# -- thumbnails ---------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(7, 5), (6, 9, 3)])
def test_png_round_trip(shape):
    image = face(3, shape)
    assert np.array_equal(png.decode(png.encode(image)), image)


def test_png_opens_elsewhere_with_right_colours():
    cv2 = pytest.importorskip("cv2")
    image = face(4, (12, 10, 3))
    assert np.array_equal(cv2.imdecode(np.frombuffer(png.encode(image), np.uint8),
                                       cv2.IMREAD_UNCHANGED), image)
    ok, data = cv2.imencode(".png", image)
    assert np.array_equal(png.decode(data.tobytes()), image)


def test_thumbnail_inputs(gallery):
    gallery.enrol("Ada", vec(1), MODEL_A, png.encode(face(1)))  # PNG bytes are fine
    for bad in [b"GIF89a...", face(1).astype(np.float32), np.zeros((4, 4, 4), np.uint8)]:
        with pytest.raises(GalleryError):
            gallery.enrol("Bob", vec(2), MODEL_A, bad)
    damaged = bytearray(png.encode(face(2)))
    damaged[40] ^= 0xFF
    with pytest.raises(CorruptFile):
        gallery.enrol("Bob", vec(2), MODEL_A, bytes(damaged))
    assert [p.name for p in gallery.people()] == ["Ada"]


# -- re-embedding -------------------------------------------------------------------------

def test_reembed_rewrites_every_embedding(gallery):
    faces = {"Ada": [face(1), face(2)], "Bob": [face(3, (16, 16, 3))]}
    for seed, (name, crop) in enumerate((n, c) for n, cs in faces.items() for c in cs):
        gallery.enrol(name, vec(seed), MODEL_A, crop, append=True)
    embedder = ProjectionEmbedder(dim=32)
    seen = []
    changed = gallery.reembed(embedder, batch_size=2, progress=lambda d, t: seen.append((d, t)))
    assert changed == 3
    assert seen == [(2, 3), (3, 3)]
    assert gallery.models() == [embedder.sha256]
    names, matrix = gallery.embeddings(embedder.sha256)
    assert names == ["Ada", "Ada", "Bob"] and matrix.shape == (3, 32)
    expected = embedder.embed(faces["Ada"] + faces["Bob"])
    np.testing.assert_allclose(matrix, expected, rtol=1e-5, atol=1e-6)
    assert all(e.dim == 32 for p in gallery.people() for e in p.enrolments)
    assert gallery.check() == []
    assert gallery.reembed(embedder) == 0  # already made by this model
    gallery.enrol("Cy", embedder.embed([face(9)])[0], embedder.sha256, face(9))


class BrokenEmbedder(ProjectionEmbedder):
    def __init__(self, fail_after):
        super().__init__()
        self.calls, self.fail_after = 0, fail_after

    def embed(self, faces):
        self.calls += 1
        if self.calls > self.fail_after:
            return np.zeros((len(faces) + 1, 32), np.float32)  # wrong shape
        return super().embed(faces)


def test_failed_reembed_changes_nothing(gallery):
    for i in range(5):
        gallery.enrol(f"p{i}", vec(i), MODEL_A, face(i))
    before = gallery.embeddings(MODEL_A)[1]
    with pytest.raises(GalleryError, match="shape"):
        gallery.reembed(BrokenEmbedder(fail_after=2), batch_size=2)
    assert gallery.models() == [MODEL_A]
    assert np.array_equal(gallery.embeddings(MODEL_A)[1], before)
    with pytest.raises(GalleryError, match="64 hex"):
        gallery.reembed(object())


def test_reembed_catches_enrolments_made_meanwhile(tmp_path):
    path = tmp_path / "g.db"
    with Gallery(path) as g, Gallery(path) as other:
        g.enrol("Ada", vec(1), MODEL_A, face(1))
        embedder = ProjectionEmbedder()

        def enrol_meanwhile(done, total):  # another process enrols with the old model
            other.enrol("Bob", vec(2), MODEL_A, face(2))
        assert g.reembed(embedder, progress=enrol_meanwhile) == 2
        assert g.models() == [embedder.sha256] and len(g.people()) == 2


# -- the store is the only module that speaks SQL -----------------------------------------

SQL = re.compile(r"^\s*(SELECT|INSERT|UPDATE|DELETE|PRAGMA|BEGIN|COMMIT|ROLLBACK|SAVEPOINT"
                 r"|RELEASE|CREATE|DROP|ALTER|REPLACE)\b(?!$)")  # a lone "DELETE" is HTTP
STORE = ("store.py", "schema.py", "sightings.py", "rejections.py")  # the store's modules


HTTP_METHODS = {"DELETE", "PUT", "PATCH", "POST", "GET"}   # the web view's, not SQL


def sql_in(source: str, rel: str) -> list[str]:
    """Each use of a connection (``_conn``, ``execute``, ``cursor``...) and each string
    that reads as SQL in ``source``, as "file:line what"."""
    found = []
    for node in ast.walk(ast.parse(source, rel)):
        if isinstance(node, ast.Attribute) and node.attr in (
                "_conn", "execute", "executemany", "executescript", "cursor"):
            found.append(f"{rel}:{node.lineno} .{node.attr}")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and SQL.match(node.value) and node.value not in HTTP_METHODS:
            found.append(f"{rel}:{node.lineno} {node.value.split()[0]}")
    return found


def test_only_the_store_and_schema_speak_sql():
    """Every other module of gallery/ (and everything under edge/) reaches the file
    through Gallery's public methods: no private connection, no SQL of its own. The
    store is store.py with the modules of its other tables (``STORE``)."""
    root = Path(gallery_package.__file__).resolve().parents[1]
    files = sorted((root / "gallery").glob("*.py")) + sorted((root / "edge").rglob("*.py"))
    assert len(files) > 20
    found = [hit for path in files if path.name not in STORE
             or path.parent.name != "gallery"
             for hit in sql_in(path.read_text(), path.relative_to(root).as_posix())]
    assert found == []
    store = (root / "gallery" / "store.py").read_text()
    assert sql_in(store, "gallery/store.py")  # the scan does find SQL where there is some
    assert sorted(sql_in('g._conn.execute("DELETE FROM people")', "x.py")) == [
        "x.py:1 ._conn", "x.py:1 .execute", "x.py:1 DELETE"]
    assert sql_in('METHODS = {"POST", "DELETE"}', "x.py") == []


def test_rows_and_integrity(gallery):
    gallery.enrol("Ada", vec(1), MODEL_A, face(1), source="camera", quality=0.5)
    gallery.enrol("Ada", vec(2), MODEL_A, face(2), append=True, created="2020-01-01T00:00:00")
    rows = gallery.rows()
    assert [r[1:] for r in rows.people] == [("Ada", rows.people[0][2])]
    (a, b) = rows.embeddings
    assert a[1] == b[1] == rows.people[0][0] and a[3:7] == (128, MODEL_A, "camera", 0.5)
    assert np.frombuffer(a[2], "<f4").tolist() == (vec(1) / np.linalg.norm(vec(1))).tolist()
    assert b[7] == "2020-01-01T00:00:00"
    assert np.array_equal(png.decode(rows.thumbnails[b[0]]), face(2))
    assert gallery.integrity() == [] and gallery.integrity(quick=True) == []
    gallery._conn.execute("PRAGMA foreign_keys = OFF")
    gallery._conn.execute("DELETE FROM people")
    assert gallery.integrity() == [f"sqlite: row {a[0]} of embeddings points at a missing "
                                   "people row", f"sqlite: row {b[0]} of embeddings points "
                                   "at a missing people row"]


def test_replace_embeddings_is_all_or_nothing(gallery):
    a = gallery.enrol("Ada", vec(1), MODEL_A, face(1))
    b = gallery.enrol("Bob", vec(2), MODEL_A, face(2))
    assert [eid for eid, _ in gallery.thumbnails_to_reembed(MODEL_B)] == [a, b]
    assert gallery.thumbnails_to_reembed(MODEL_A) == []
    with pytest.raises(GalleryError, match="1 embeddings were not re-embedded"):
        gallery.replace_embeddings({a: vec(3, 32)}, MODEL_B)
    with pytest.raises(GalleryError, match="sizes"):
        gallery.replace_embeddings({a: vec(3, 32), b: vec(4, 16)}, MODEL_B)
    assert gallery.models() == [MODEL_A]
    assert gallery.replace_embeddings({a: 2 * vec(3, 32), b: vec(4, 32)}, MODEL_B) == 2
    names, matrix = gallery.embeddings(MODEL_B)
    assert names == ["Ada", "Bob"] and matrix.shape == (2, 32)
    np.testing.assert_allclose(np.linalg.norm(matrix, axis=1), 1, rtol=1e-6)
    assert gallery.check() == []


AMERICAN = re.compile(r"enroll(?!ed|ing|able|er)", re.IGNORECASE)  # enroll, enrollment


def identifiers(tree):
    """Every name a module defines or uses: variables, attributes, functions, classes,
    arguments, keywords and imported modules."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            yield node.lineno, node.id
        elif isinstance(node, ast.Attribute):
            yield node.lineno, node.attr
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            yield node.lineno, node.name
        elif isinstance(node, ast.arg):
            yield node.lineno, node.arg
        elif isinstance(node, ast.keyword) and node.arg:
            yield node.value.lineno, node.arg
        elif isinstance(node, ast.alias):
            yield node.lineno, node.asname or node.name
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.lineno, node.module


def test_one_spelling_of_enrol_in_the_code():
    """gallery/ and edge/ spell it "enrol", "enrolment" (as the docs do); only the command
    edge-enroll and its module edge/cli_enroll.py keep the command's spelling."""
    root = Path(gallery_package.__file__).resolve().parents[1]
    files = sorted((root / "gallery").glob("*.py")) + sorted((root / "edge").rglob("*.py"))
    found = [f"{path.relative_to(root)}: file name" for path in files
             if AMERICAN.search(path.stem) and path.stem != "cli_enroll"]
    for path in files:
        for line, name in identifiers(ast.parse(path.read_text())):
            if AMERICAN.search(name.replace("cli_enroll", "")):
                found.append(f"{path.relative_to(root)}:{line} {name}")
    assert found == []
    assert sorted(n for _, n in identifiers(ast.parse("from edge.enroll import x as enrollment"))
                  if AMERICAN.search(n)) == ["edge.enroll", "enrollment"]
