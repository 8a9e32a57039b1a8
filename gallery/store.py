"""The gallery file: people, their embeddings and face thumbnails in one SQLite file.

One model at a time: every stored embedding was made by the same model (its sha256)
and has the same size. Enrolling with another model is refused until the gallery is
re-embedded (``Gallery.reembed``), so matching never compares across models.
Vectors are stored L2-normalised as little-endian float32. Thumbnails are the aligned
face crops as PNG (see ``gallery.png``), kept so the gallery can be re-embedded.

Every SQL statement of the gallery is here, and in the two modules that are part of
the store, ``sightings`` and ``rejections`` (one table each, reached through
``Gallery.sightings`` and ``Gallery.rejections``; the tables are made in ``schema``):
export, import, check, matching and re-embedding go through the public methods, never
through the connection (a test reads the sources to keep it so).
"""
from __future__ import annotations

import difflib
import functools
import sqlite3
import unicodedata
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from . import access, schema
from .errors import (CorruptFile, DuplicatePerson, GalleryError, InvalidName, UnknownPerson,
                     model_mismatch)
from .names import clean_name, name_key, pick
from .values import check_sha256, grouped_vectors, now, thumbnail_png, unit_vector


def default_path() -> Path:
    """``gallery.db`` in the user's data folder (``~/.local/share/siamese-edge`` on Linux)."""
    import platformdirs
    return Path(platformdirs.user_data_dir("siamese-edge")) / "gallery.db"


def open_existing(path: str | Path | None = None) -> "Gallery | None":
    """The gallery at ``path`` (default: ``default_path()``) if its file exists (and is
    not empty), else None: for callers that create a gallery only once there is someone
    to store."""
    path = Path(path) if path is not None else default_path()
    # an empty file (touched, say) holds no one yet: the gallery is made there on a write
    return Gallery(path, create=False) if path.exists() and not access.is_empty_file(path) \
        else None


def _as(name: str, same: list[tuple[int, str]]) -> str:
    """The words " as 'Alan Turing'" when ``name`` is enrolled under another spelling."""
    spellings = sorted({spelt for _, spelt in same if spelt != name})
    return f" as {' and '.join(map(repr, spellings))}" if spellings else ""


class StoreTable:
    """A table of one open Gallery kept by a module of its own (``gallery.sightings``,
    ``gallery.rejections``), speaking through the gallery's connection."""

    def __init__(self, gallery):
        self._gallery = gallery

    @property
    def _conn(self):
        return self._gallery._conn


def _reads(method):
    """Report a damaged file as one CorruptFile, whatever broke on reading it, and a
    file SQLite cannot get at as what stands in the way (``access.explain``)."""
    @functools.wraps(method)
    def read(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except sqlite3.OperationalError as exc:  # busy, locked, read-only: not damage
            if access.is_access_error(exc):
                raise access.explain(self.path, exc, "read") from None
            raise
        except (sqlite3.DatabaseError, TypeError, ValueError, KeyError) as exc:
            raise CorruptFile(f"{self.path} looks damaged ({type(exc).__name__}: {exc}); "
                              "run edge-gallery check") from None
    return read


@dataclass(frozen=True)
class Enrolment:
    id: int
    dim: int
    model_sha256: str
    source: str
    quality: float | None
    created: str


@dataclass(frozen=True)
class Person:
    name: str
    created: str
    enrolments: tuple[Enrolment, ...]

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Rows:
    """The three tables as stored (see ``schema``), unchecked.

    ``people``: (id, name, created) by id. ``embeddings``: (id, person, vector, dim,
    model_sha256, source, quality, created) by person, then id; ``vector`` is the stored
    bytes. ``thumbnails``: enrolment id -> PNG bytes.
    """
    people: list[tuple]
    embeddings: list[tuple]
    thumbnails: dict[int, bytes]


class Gallery:
    """A gallery file, opened (and created, unless ``create=False``) at ``path``.

    Every write is one transaction; ``with gallery.batch():`` groups several. The
    first write of each Gallery runs SQLite's quick check first, and a damaged file is
    refused (CorruptFile) rather than written into.
    """

    def __init__(self, path: str | Path | None = None, *, create: bool = True):
        self.path = Path(path) if path is not None else default_path()
        self._conn = schema.connect(self.path, create=create)
        self._depth = 0
        self._sound = False  # the quick check has passed

    def close(self) -> None:
        self._conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- transactions -------------------------------------------------------------------

    @contextmanager
    def batch(self):
        """Group the writes inside into one transaction: all of them or none.

        A gallery that cannot be written (busy beyond ``schema.BUSY_TIMEOUT_S``, a
        read-only file or folder, a full disk) is one GalleryError saying which; a
        damaged one is CorruptFile (``_require_sound``).
        """
        conn, depth = self._conn, self._depth
        try:
            conn.execute("BEGIN IMMEDIATE" if depth == 0 else f"SAVEPOINT s{depth}")
        except sqlite3.OperationalError as exc:
            self._refuse(exc)
            raise
        self._depth += 1
        try:
            if not self._sound:
                self._require_sound()
            yield self
        except BaseException as exc:
            self._depth = depth
            if depth == 0:
                schema.rollback(conn)
            elif conn.in_transaction:
                conn.execute(f"ROLLBACK TO s{depth}")
                conn.execute(f"RELEASE s{depth}")
            self._refuse(exc)
            raise
        self._depth = depth
        try:
            conn.execute("COMMIT" if depth == 0 else f"RELEASE s{depth}")
        except BaseException as exc:
            if depth == 0:
                schema.rollback(conn)
            self._refuse(exc)
            raise

    def _require_sound(self) -> None:
        """Refuse to write into a damaged file: SQLite's quick check (its integrity
        check without comparing indexes with tables, each page read once: little next
        to detecting and embedding a face) before the first write of this Gallery."""
        try:
            problems = self.integrity(quick=True)
        except sqlite3.DatabaseError as exc:
            self._refuse(exc)
            raise
        if problems:
            raise access.damaged(self.path, problems[0], len(problems) - 1)
        self._sound = True

    def _refuse(self, exc: BaseException) -> None:
        """Raise ``access.refusal`` for ``exc`` met writing; return if there is none."""
        refusal = access.refusal(self.path, exc)
        if refusal is not None:
            raise refusal from None

    @contextmanager
    def snapshot(self):
        """Read inside one consistent view of the file (no writer blocks it)."""
        if self._depth:
            yield self
            return
        self._conn.execute("BEGIN")
        self._depth = 1
        try:
            yield self
        finally:
            self._depth = 0
            schema.rollback(self._conn)

    @property
    def sightings(self):
        """The sightings kept in this file (``gallery.sightings.SightingStore``)."""
        from .sightings import SightingStore
        return SightingStore(self)

    @property
    def rejections(self):
        """The faces said not to be someone (``gallery.rejections.RejectionStore``)."""
        from .rejections import RejectionStore
        return RejectionStore(self)

    def data_version(self) -> int:
        """A number that changes whenever another connection commits a change."""
        return self._conn.execute("PRAGMA data_version").fetchone()[0]

    # -- writes -------------------------------------------------------------------------

    def enrol(self, name: str, embedding, model_sha256: str, thumbnail, *,
              source: str = "", quality: float | None = None, append: bool = False,
              created: str | None = None, person_created: str | None = None) -> int:
        """Store one enrolment; returns its id.

        ``thumbnail`` is the aligned face crop the embedding was made from: a uint8
        grey (HxW) or BGR (HxWx3) array, or PNG bytes. A name already enrolled is
        refused unless ``append`` (which adds another embedding to that person); names
        are one person's without regard to case and Unicode form (``names.name_key``),
        so appending to "alan turing" adds to "Alan Turing", who keeps that spelling.
        ``created`` (the enrolment's) and ``person_created`` (the person's, if new) are
        now unless given: an import keeps the times of the gallery it came from.
        """
        name = clean_name(name)
        vector = unit_vector(embedding)
        model = check_sha256(model_sha256)
        data = thumbnail_png(thumbnail)
        quality = None if quality is None else float(quality)
        with self.batch():
            self._require_model(model, vector.size)
            conn = self._conn
            same = self._same_name(name)
            if not same:
                pid = conn.execute("INSERT INTO people (name, key, created) VALUES (?, ?, ?)",
                                   (name, name_key(name), person_created or now())).lastrowid
            elif append:
                pid = pick(name, same, self.path)
            else:
                raise DuplicatePerson(f"{name!r} is already enrolled{_as(name, same)}: "
                                      "append another embedding, or choose another name")
            eid = conn.execute(
                "INSERT INTO embeddings (person, vector, dim, model_sha256, source, quality,"
                " created) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (pid, vector.astype("<f4").tobytes(), int(vector.size), model, str(source),
                 quality, created or now())).lastrowid
            conn.execute("INSERT INTO thumbnails (embedding, png) VALUES (?, ?)", (eid, data))
        return eid

    def _require_model(self, model: str, dim: int) -> None:
        row = self._conn.execute("SELECT model_sha256, dim FROM embeddings LIMIT 1").fetchone()
        if row is None:
            return
        if row[0] != model:
            raise model_mismatch(self.path, row[0], model)
        if row[1] != dim:
            raise GalleryError(f"this gallery's embeddings have {row[1]} values, "
                               f"this one has {dim}")

    def remove(self, name: str) -> int:
        """Forget ``name`` and all their embeddings; returns how many embeddings went."""
        with self.batch():
            pid = self._person_id(name)
            n = self._conn.execute("SELECT count(*) FROM embeddings WHERE person = ?",
                                   (pid,)).fetchone()[0]
            self._conn.execute("DELETE FROM people WHERE id = ?", (pid,))
        return n

    def rename(self, old: str, new: str) -> str:
        """Give ``old`` the name ``new``; returns the stored (cleaned) new name."""
        new = clean_name(new)
        with self.batch():
            pid = self._person_id(old)
            others = [(i, n) for i, n in self._same_name(new) if i != pid]
            if others:
                raise DuplicatePerson(f"{new!r} is already enrolled{_as(new, others)}; "
                                      "remove them first or choose another name")
            self._conn.execute("UPDATE people SET name = ?, key = ? WHERE id = ?",
                               (new, name_key(new), pid))
        return new

    def reembed(self, embedder, *, batch_size: int = 32, progress=None) -> int:
        """Re-make every embedding with ``embedder`` from its thumbnail, in one transaction.

        ``embedder`` has ``sha256`` (str) and ``embed(faces) -> (N, D) float32`` taking a
        list of uint8 face images. ``progress(done, total)`` is called after each batch.
        Returns how many embeddings changed. A damaged file is refused before any work.
        """
        from .reembed import reembed
        if not self._sound:  # the faces are read before the write: check them first
            self._require_sound()
        return reembed(self, embedder, batch_size=batch_size, progress=progress)

    def replace_embeddings(self, vectors: dict, model_sha256: str) -> int:
        """Give each enrolment (id -> vector) a new embedding made by ``model_sha256``.

        One transaction, which must leave every embedding this model's: when any other
        model's would remain, nothing changes (GalleryError). Returns how many changed.
        """
        model = check_sha256(model_sha256)
        vectors = {int(eid): unit_vector(v) for eid, v in vectors.items()}
        dims = {v.size for v in vectors.values()}
        if len(dims) > 1:
            raise GalleryError(f"new embeddings of sizes {sorted(dims)}: one model, one size")
        with self.batch():
            changed = self._set_vectors("embeddings", vectors, model)
            stale = self._conn.execute("SELECT count(*) FROM embeddings WHERE "
                                       "model_sha256 != ?", (model,)).fetchone()[0]
            if stale:
                raise GalleryError(f"{stale} embeddings were not re-embedded; nothing changed")
        return changed

    def _set_vectors(self, table: str, vectors: dict, model: str) -> int:
        """Give each row of ``table`` (embeddings or rejections; id -> unit vector) a
        new vector made by ``model``, inside the caller's transaction; how many changed."""
        return sum(self._conn.execute(
            f"UPDATE {table} SET vector = ?, dim = ?, model_sha256 = ? WHERE id = ?",
            (v.astype("<f4").tobytes(), int(v.size), model, int(i))).rowcount
            for i, v in vectors.items())

    @_reads
    def export(self, path: str | Path, sign_key: bytes | None = None) -> dict:
        """Write everything to a portable, checksummed file (signed with ``sign_key``:
        see ``gallery.signing``); returns what it holds."""
        from .archive import export
        return export(self, path, sign_key)

    def import_(self, source, on_duplicate: str = "refuse",
                verify_key: bytes | None = None) -> dict:
        """Add everyone in an export file (or its ``archive.read``), in one transaction.

        ``on_duplicate`` is "refuse", "skip", "replace" or "append"; see ``archive.import_``.
        With ``verify_key``, an export file not signed with that key is refused.
        """
        from .archive import import_
        return import_(self, source, on_duplicate=on_duplicate, verify_key=verify_key)

    # -- reads --------------------------------------------------------------------------

    def _same_name(self, name: str) -> list[tuple[int, str]]:
        """(id, stored name) of everyone whose name is ``name`` without regard to case
        and Unicode form: one person, or several in a gallery from before that rule."""
        key = name_key(name)
        if not key:
            return self._conn.execute("SELECT id, name FROM people WHERE name = ?",
                                      (name,)).fetchall()
        return self._conn.execute("SELECT id, name FROM people WHERE key = ? ORDER BY id",
                                  (key,)).fetchall()

    def _person_id(self, name: str) -> int:
        """The id of the person ``name`` means (any case or Unicode form of their name);
        UnknownPerson, or AmbiguousName for a gallery holding both "Ada" and "ADA"."""
        if not isinstance(name, str):
            raise UnknownPerson(f"no one named {name!r} in {self.path}")
        name = unicodedata.normalize("NFC", name).strip()  # found even if no longer valid
        pid = pick(name, self._same_name(name), self.path)
        if pid is None:
            names = [r[0] for r in self._conn.execute("SELECT name FROM people")]
            close = difflib.get_close_matches(name, names, n=1) or \
                [n for n in names if name.casefold() in n.casefold()][:1]
            hint = f" (did you mean {close[0]!r}?)" if close else " (see edge-gallery list)"
            raise UnknownPerson(f"no one named {name!r} in {self.path}{hint}")
        return pid

    @_reads
    def has(self, name: str) -> bool:
        """Whether someone is enrolled under ``name``, without regard to case and
        Unicode form (``person(name).name`` is their stored spelling)."""
        try:
            name = clean_name(name)
        except InvalidName:
            return False
        return bool(self._same_name(name))

    @_reads
    def people(self) -> list[Person]:
        """Everyone enrolled, by name, each with their enrolments (no vectors)."""
        rows = self._conn.execute(
            "SELECT p.name, p.created, e.id, e.dim, e.model_sha256, e.source, e.quality,"
            " e.created FROM people p LEFT JOIN embeddings e ON e.person = p.id"
            " ORDER BY p.name, e.id").fetchall()
        people: dict[str, tuple[str, list]] = {}
        for name, created, *enrolment in rows:
            entry = people.setdefault(name, (created, []))
            if enrolment[0] is not None:
                entry[1].append(Enrolment(*enrolment))
        return [Person(n, c, tuple(e)) for n, (c, e) in people.items()]

    @_reads
    def person(self, name: str) -> Person:
        """One person and their enrolments; UnknownPerson if no one has that name."""
        pid = self._person_id(name)
        name, created = self._conn.execute("SELECT name, created FROM people WHERE id = ?",
                                           (pid,)).fetchone()
        rows = self._conn.execute(
            "SELECT id, dim, model_sha256, source, quality, created FROM embeddings"
            " WHERE person = ? ORDER BY id", (pid,)).fetchall()
        return Person(name, created, tuple(Enrolment(*r) for r in rows))

    @_reads
    def thumbnail(self, enrolment_id: int) -> bytes:
        """The PNG bytes of one enrolment's face crop (``png.decode`` makes an array)."""
        row = self._conn.execute("SELECT png FROM thumbnails WHERE embedding = ?",
                                 (int(enrolment_id),)).fetchone()
        if row is None:
            raise GalleryError(f"no thumbnail for enrolment {enrolment_id}")
        return row[0]

    @_reads
    def models(self) -> list[str]:
        """The sha256 of each model whose embeddings are stored (one, or none)."""
        return [r[0] for r in self._conn.execute(
            "SELECT DISTINCT model_sha256 FROM embeddings ORDER BY model_sha256")]

    @_reads
    def embeddings(self, model_sha256: str) -> tuple[list[str], np.ndarray]:
        """(name of each row, float32 matrix N x D) of this model's embeddings.

        Rows are grouped by person, so one person's rows are next to each other.
        """
        rows = self._conn.execute(
            "SELECT p.name, e.vector, e.dim FROM embeddings e JOIN people p"
            " ON p.id = e.person WHERE e.model_sha256 = ? ORDER BY e.person, e.id",
            (check_sha256(model_sha256),)).fetchall()
        return grouped_vectors(rows, self.path, "embedding")

    # -- the file as stored: for re-embedding, export and check -------------------------

    def thumbnails_to_reembed(self, model_sha256: str) -> list[tuple[int, bytes]]:
        """(enrolment id, PNG) of every embedding not made by ``model_sha256``, by id.

        GalleryError when one has no thumbnail: it could not be re-embedded.
        """
        rows = self._conn.execute(
            "SELECT e.id, t.png FROM embeddings e LEFT JOIN thumbnails t ON t.embedding = e.id"
            " WHERE e.model_sha256 != ? ORDER BY e.id", (check_sha256(model_sha256),)).fetchall()
        missing = [eid for eid, data in rows if data is None]
        if missing:
            raise GalleryError(f"cannot re-embed: enrolment {missing[0]} has no thumbnail "
                               f"({len(missing)} without); enrol those people again")
        return rows

    def rows(self) -> Rows:
        """Every row of the file as stored, read in one snapshot and not checked.

        For export and check, which judge what they read themselves: a damaged file
        raises whatever SQLite, or the UTF-8 decoding of its text, raises.
        """
        with self.snapshot():
            conn = self._conn
            return Rows(
                conn.execute("SELECT id, name, created FROM people ORDER BY id").fetchall(),
                conn.execute("SELECT id, person, vector, dim, model_sha256, source, quality,"
                             " created FROM embeddings ORDER BY person, id").fetchall(),
                dict(conn.execute("SELECT embedding, png FROM thumbnails ORDER BY embedding")))

    def integrity(self, quick: bool = False) -> list[str]:
        """What SQLite finds wrong with the file, one line each; empty when all is well.

        Its integrity check (``quick``: its quick check, which skips comparing indexes
        with their tables), then every row pointing at a missing row. Raises, as
        ``rows`` does, when the file cannot be read at all.
        """
        pragma = "quick_check" if quick else "integrity_check"
        with self.snapshot():
            try:
                rows = self._conn.execute(f"PRAGMA {pragma}").fetchall()
            except MemoryError:  # SQLite's NOMEM: a damaged record claiming gigabytes
                return ["sqlite: a record claims more memory than there is: its length is "
                        "damaged"]
            problems = [f"sqlite: {line}" for r in rows if r[0] != "ok"
                        for line in str(r[0]).splitlines()
                        if not line.startswith("*** in database")]
            problems += [f"sqlite: row {r[1]} of {r[0]} points at a missing {r[2]} row"
                         for r in self._conn.execute("PRAGMA foreign_key_check")]
        return problems

    def check(self) -> list[str]:
        """Everything wrong with the file, one line each; empty when all is well."""
        from .check import check
        return check(self)
