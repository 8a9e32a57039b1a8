"""The standard face protocol of ``../shared/data/README.md``, identity-disjoint.

train: yaleb (all 38), celebs (all 13), orl s1..s20; evaluation: orl s21..s40, 20-way.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

from train.prepare import PrepareError, Settings, prepare

TRAIN = [("yaleb", None), ("celebs", None), ("orl", [f"s{i}" for i in range(1, 21)])]
EVAL = [("orl", [f"s{i}" for i in range(21, 41)])]


def _linked_source(data: Path, parts, into: Path) -> Path:
    """A folder of links ``dataset_person -> data/dataset/person`` for ``prepare``."""
    for dataset, people in parts:
        root = data / dataset
        if not root.is_dir():
            raise PrepareError(f"{root}: missing (is the shared data at {data}?)")
        names = people or sorted(p.name for p in root.iterdir() if p.is_dir())
        for name in names:
            (into / f"{dataset}_{name}").symlink_to((root / name).resolve(), True)
    return into


def prepare_protocol(data, out, size: int = 112, colour: str = "grey",
                     overwrite: bool = False, progress: bool = True) -> dict:
    """Prepare ``out/train`` and ``out/eval`` from the shared data; returns both reports."""
    data, out = Path(data), Path(out)
    settings = Settings(size=size, colour=colour, whole_if_no_face=True)
    reports = {}
    for split, parts in (("train", TRAIN), ("eval", EVAL)):
        with tempfile.TemporaryDirectory() as tmp:
            src = _linked_source(data, parts, Path(tmp))
            reports[split] = prepare(src, out / split, settings, overwrite, progress=progress)
    return reports
