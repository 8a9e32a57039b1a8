"""Why a gallery file cannot be made, opened or written, said in one line.

SQLite says "unable to open database file" or "attempt to write a readonly database";
``explain`` looks at the file and its folder and says which is in the way and what to
do. A gallery in WAL mode needs its folder writable even to be read: SQLite keeps its
``-wal`` and ``-shm`` files beside it. ``prepare`` refuses a path where no gallery can
be before anything is made.
"""
from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from .errors import CorruptFile, GalleryBusy, GalleryError, NotWritable, check_command

# SQLite's primary result codes that mean "not now" or "not here", not "damaged"
BUSY, LOCKED, READONLY, IOERR, FULL, CANTOPEN, PERM, AUTH = 5, 6, 8, 10, 13, 14, 3, 23
CODES = {BUSY, LOCKED, READONLY, IOERR, FULL, CANTOPEN, PERM, AUTH}
CORRUPT, NOTADB = 11, 26  # and those that mean "damaged"


def is_access_error(exc: BaseException) -> bool:
    """Whether ``exc`` is SQLite failing to get at the file (busy, read-only, cannot
    open, I/O error, disk full) rather than finding it damaged."""
    return isinstance(exc, sqlite3.OperationalError) and \
        (getattr(exc, "sqlite_errorcode", 0) & 0xFF) in CODES


def is_damage(exc: BaseException) -> bool:
    """Whether ``exc`` is SQLite finding the file damaged ("database disk image is
    malformed", "file is not a database")."""
    return isinstance(exc, sqlite3.DatabaseError) and \
        (getattr(exc, "sqlite_errorcode", 0) & 0xFF) in (CORRUPT, NOTADB)


def _file_above(path: Path) -> Path | None:
    """The nearest existing folder-to-be of ``path`` that is a file, if any."""
    for parent in path.parents:
        if parent.exists():
            return None if parent.is_dir() else parent
    return None


def check_can_make(path: Path) -> None:
    """Refuse now a new gallery at ``path`` that could not be made: under a file, or
    in a folder (or below the nearest existing one) that cannot be written. For callers
    with work to do first (a camera countdown), so the refusal comes before it."""
    above = _file_above(path)
    if above is not None:
        raise NotWritable(f"no gallery can be at {path}: {above} is a file, not a folder")
    folder = next(p for p in path.parents if p.exists())
    if not os.access(folder, os.W_OK | os.X_OK):
        raise NotWritable(f"cannot make the gallery {path}: the folder {folder} is "
                          "read-only")


def is_empty_file(path: Path) -> bool:
    """A file of no bytes where a gallery should be: it holds no one, and only a write
    (an enrolment) may make a gallery of it."""
    path = Path(path)
    return path.is_file() and path.stat().st_size == 0


def prepare(path: Path, create: bool) -> None:
    """Refuse, before anything is made, a ``path`` where no gallery is or can be; with
    ``create``, make its folder when it has none."""
    path = Path(path)
    if path.is_dir():
        raise GalleryError(f"{path} is a folder, not a gallery file")
    if path.exists():
        if not create and is_empty_file(path):   # touched, or half copied: kept as is
            raise CorruptFile(f"{path} is an empty file, not a gallery (edge-enroll makes "
                              "one there)")
        return
    if not create and _file_above(path) is None:
        raise GalleryError(f"no gallery at {path} (enrol someone with edge-enroll, "
                           "or pass --gallery PATH)")
    check_can_make(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise NotWritable(f"cannot make the gallery {path}: cannot make its folder "
                          f"{path.parent} ({exc.strerror or exc})") from None


def explain(path: Path, exc: sqlite3.OperationalError, doing: str = "write") -> GalleryError:
    """The one-line error for ``exc`` (``is_access_error``), met while ``doing`` ("make",
    "open", "read" or "write") the gallery at ``path``."""
    from .schema import BUSY_TIMEOUT_S  # the schema imports this module

    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
    unchanged = "; nothing was written" if doing == "write" else ""
    if code in (BUSY, LOCKED):
        return GalleryBusy(f"the gallery {path} is busy: another program has been writing "
                           f"to it for over {BUSY_TIMEOUT_S:g} s (an enrolment, an import or "
                           f"a re-embedding?){unchanged}; try again when it is done")
    return NotWritable(f"cannot {doing} the gallery {path}: {_why(path, code, exc)}{unchanged}")


def damaged(path: Path, problem: str, more: int = 0) -> CorruptFile:
    """The error for a write refused because the gallery at ``path`` is damaged:
    ``problem`` (and ``more`` others) found by SQLite."""
    also = f" and {more} more" if more else ""
    return CorruptFile(f"the gallery {path} is damaged ({problem}{also}); nothing was "
                       f"written: see {check_command(path)}")


def refusal(path: Path, exc: BaseException) -> GalleryError | None:
    """The error to raise for ``exc``, met writing the gallery at ``path``: what stands
    in the way (``explain``), or ``damaged``; None for anything else."""
    if is_access_error(exc):
        return explain(path, exc, "write")
    if is_damage(exc):
        return damaged(path, f"sqlite: {exc}")
    return None


def _why(path: Path, code: int, exc: Exception) -> str:
    """What stands in the way, found by looking, else what SQLite said."""
    if code == FULL:
        return "the disk is full"
    above, folder = _file_above(path), path.parent
    if above is not None:
        return f"{above} is a file, not a folder"
    if not folder.is_dir():
        return f"there is no folder {folder}"
    if path.exists() and not os.access(path, os.R_OK):
        return "the file cannot be read (permission denied)"
    if path.exists() and not os.access(path, os.W_OK):
        return "the file is read-only"
    if not os.access(folder, os.W_OK):
        return (f"its folder {folder} is read-only, and SQLite keeps its -wal and -shm "
                "files beside the gallery")
    for side in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if side.exists() and not os.access(side, os.W_OK):
            return f"{side} is read-only"
    if code == IOERR:
        return "the disk failed to read or write (disk I/O error)"
    return f"SQLite says: {exc}"
