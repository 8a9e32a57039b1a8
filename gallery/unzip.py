"""Reading a zip file within limits, so that a small file cannot fill the memory.

A zip says how large each member unpacks to (``ZipInfo.file_size``) before a byte of
it is read: ``check_sizes`` refuses a member, or a whole file, that would unpack to
more than the ``Limits`` allow, or to very many times its own size (what a gallery
export, mostly PNG thumbnails stored as they are, never does). ``read`` then unpacks a
member with a cap, so a size that lies cannot get past it either.
"""
from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

from .errors import CorruptFile

MiB = 1 << 20


@dataclass(frozen=True)
class Limits:
    """What one zip may unpack to: ``member`` bytes for any member (data.json holds
    about 1 KB per enrolment of 128 values), ``total`` for all of them (held in memory
    to be checked), and at most ``ratio`` times the zip's own size beyond ``free``."""
    member: int = 64 * MiB
    total: int = 1024 * MiB
    ratio: int = 100
    free: int = 16 * MiB


def _size(n: int) -> str:
    return f"{n / MiB / 1024:.1f} GiB" if n >= 1024 * MiB else f"{n / MiB:.1f} MiB"


def check_sizes(path: Path, zf: zipfile.ZipFile, limits: Limits) -> None:
    """Refuse (CorruptFile) the open zip ``zf``, the file ``path``, when what its
    members say they unpack to is more than ``limits`` allow."""
    infos = zf.infolist()
    for info in infos:
        if info.file_size > limits.member:
            raise CorruptFile(f"{path}: {info.filename} would unpack to {_size(info.file_size)}"
                              f", more than the {_size(limits.member)} a gallery export holds "
                              "in one file; it is not one, or it is damaged")
    total, packed = sum(i.file_size for i in infos), path.stat().st_size
    if total > limits.total:
        raise CorruptFile(f"{path} would unpack to {_size(total)}, more than the "
                          f"{_size(limits.total)} a gallery export may hold")
    if total > limits.free + limits.ratio * packed:
        raise CorruptFile(f"{path} would unpack to {_size(total)}, {total / packed:.0f} times "
                          "its own size: a gallery export does not pack so well (a zip bomb?)")


def read(path: Path, zf: zipfile.ZipFile, name: str, limits: Limits) -> bytes:
    """Member ``name`` of ``zf`` unpacked, reading at most ``limits.member`` + 1 bytes:
    refused (CorruptFile) beyond, whatever its header says."""
    with zf.open(name) as member:
        data = member.read(limits.member + 1)
    if len(data) > limits.member:
        raise CorruptFile(f"{path}: {name} unpacks to more than the {_size(limits.member)} "
                          "a gallery export holds in one file; it is not one, or it is damaged")
    return data
