"""Opening the SQLite file: connection settings, schema and its migrations.

The schema version lives in ``PRAGMA user_version``. ``MIGRATIONS[i]`` takes a gallery
from version ``i`` to ``i + 1``; all pending steps run in one transaction, so a gallery
is never left half migrated. A file newer than the code is refused, never touched.

Versions: 1, people, their embeddings and thumbnails; 2, the sightings the identify
loop keeps and the rejections ("this face is not NAME") that correct the matcher
(``gallery.sightings``, ``gallery.rejections``). A version 1 gallery is upgraded in
place when it is first opened; a siamese-edge that reads only version 1 then refuses
it (``SchemaTooNew``, "upgrade siamese-edge") rather than writing into it.
"""
from __future__ import annotations

import sqlite3
from pathlib import Path

from . import access
from .errors import CorruptFile, SchemaTooNew

BUSY_TIMEOUT_S = 10.0


def _create_v1(conn: sqlite3.Connection) -> None:
    conn.execute("""CREATE TABLE people (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        created TEXT NOT NULL)""")
    conn.execute("""CREATE TABLE embeddings (
        id INTEGER PRIMARY KEY,
        person INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
        vector BLOB NOT NULL,              -- little-endian float32, L2-normalised
        dim INTEGER NOT NULL CHECK (dim > 0 AND length(vector) = 4 * dim),
        model_sha256 TEXT NOT NULL,
        source TEXT NOT NULL DEFAULT '',
        quality REAL,
        created TEXT NOT NULL)""")
    conn.execute("CREATE INDEX embeddings_person ON embeddings(person)")
    conn.execute("CREATE INDEX embeddings_model ON embeddings(model_sha256)")
    conn.execute("""CREATE TABLE thumbnails (
        embedding INTEGER PRIMARY KEY REFERENCES embeddings(id) ON DELETE CASCADE,
        png BLOB NOT NULL)""")


def _add_sightings_v2(conn: sqlite3.Connection) -> None:
    # AUTOINCREMENT: a sighting's id is never given again once it is pruned, so an id
    # on a page or in an MQTT message always means the face it was shown with
    conn.execute("""CREATE TABLE sightings (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        time REAL NOT NULL,                -- seconds since 1970 (UTC)
        camera TEXT NOT NULL,
        name TEXT,                         -- NULL: unknown
        distance REAL,
        margin REAL,
        model_sha256 TEXT NOT NULL,
        vector BLOB NOT NULL,              -- little-endian float32, L2-normalised
        dim INTEGER NOT NULL CHECK (dim > 0 AND length(vector) = 4 * dim),
        png BLOB NOT NULL)""")
    conn.execute("CREATE INDEX sightings_time ON sightings(time)")
    conn.execute("""CREATE TABLE rejections (
        id INTEGER PRIMARY KEY,
        person INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
        vector BLOB NOT NULL,
        dim INTEGER NOT NULL CHECK (dim > 0 AND length(vector) = 4 * dim),
        model_sha256 TEXT NOT NULL,
        png BLOB NOT NULL,
        sighting INTEGER,                  -- the sighting it came from (which may be pruned)
        created TEXT NOT NULL)""")
    conn.execute("CREATE INDEX rejections_person ON rejections(person)")


def _key_names_v3(conn: sqlite3.Connection) -> None:
    # a name's key (case and Unicode form aside, gallery.names.name_key), indexed, so
    # finding a person by any spelling of their name is one lookup however many are stored
    from .names import name_key

    conn.execute("ALTER TABLE people ADD COLUMN key TEXT")
    conn.executemany("UPDATE people SET key = ? WHERE id = ?",
                     [(name_key(name), pid) for pid, name in
                      conn.execute("SELECT id, name FROM people").fetchall()])
    conn.execute("CREATE INDEX people_key ON people(key)")


MIGRATIONS = [_create_v1, _add_sightings_v2, _key_names_v3]
VERSION = len(MIGRATIONS)


def connect(path: str | Path, create: bool = True) -> sqlite3.Connection:
    """A connection to the gallery at ``path``, WAL mode, migrated to ``VERSION``.

    A file, folder or lock in the way is one GalleryError saying which
    (``gallery.access``); a file that is not a gallery, or a damaged one, CorruptFile.
    """
    path = Path(path)
    access.prepare(path, create)
    doing = "open" if path.exists() else "make"
    try:
        conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_S, isolation_level=None)
    except sqlite3.OperationalError as exc:
        raise access.explain(path, exc, doing) from None
    conn.text_factory = _text
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")  # an enrolment survives power loss
        conn.execute("PRAGMA foreign_keys = ON")
        migrate(conn, path)
    except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:  # garbled schema text
        conn.close()
        if access.is_access_error(exc):  # busy, read-only, cannot open: not damage
            raise access.explain(path, exc, doing) from None
        raise CorruptFile(f"{path} is not a readable gallery ({exc})") from None
    except BaseException:
        conn.close()
        raise
    return conn


def _text(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise CorruptFile("the gallery holds text that is not UTF-8: the file is damaged; "
                          "run edge-gallery check") from None


def migrate(conn: sqlite3.Connection, path: Path) -> None:
    """Bring the schema up to ``VERSION`` in one transaction, or refuse a newer file."""
    if _version(conn, path) == VERSION:
        return
    conn.execute("BEGIN IMMEDIATE")  # re-read under the write lock: others may migrate
    try:
        version = _version(conn, path)
        if version == 0 and conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
            raise CorruptFile(f"{path} is a SQLite file but not a siamese-edge gallery")
        for step in MIGRATIONS[version:]:
            step(conn)
        conn.execute(f"PRAGMA user_version = {VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        rollback(conn)
        raise


def rollback(conn: sqlite3.Connection) -> None:
    """Undo the open transaction, if SQLite has not already undone it."""
    if conn.in_transaction:
        conn.execute("ROLLBACK")


def _version(conn: sqlite3.Connection, path: Path) -> int:
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > VERSION:
        raise SchemaTooNew(f"{path} has gallery schema version {version}, but this "
                           f"siamese-edge reads up to version {VERSION}: upgrade siamese-edge")
    return version
