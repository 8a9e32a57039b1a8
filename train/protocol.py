"""The face protocols of the shared data folder's README, identity-disjoint.

Standard (lab photos): train: yaleb (all 38), celebs (all 13), orl s1..s20; evaluation:
orl s21..s40, 20-way. Wild (LFW, news photos): eval (the 100 people of
``lfw_eval_people.txt``), calibration (the 100 of ``lfw_calibration_people.txt``),
train (everyone else); each photo's face is the one nearest its centre.
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


WILD_LISTS = {"eval": "lfw_eval_people.txt", "calibration": "lfw_calibration_people.txt"}


def wild_split(data) -> dict[str, list[str]]:
    """LFW's people by split: eval, calibration (from the lists beside it) and train."""
    data = Path(data)
    root = data / "lfw"
    if not root.is_dir():
        raise PrepareError(f"{root}: missing (is the shared data at {data}?)")
    split = {}
    for name, listed in WILD_LISTS.items():
        try:
            split[name] = [ln.strip() for ln in (data / listed).read_text().splitlines()
                           if ln.strip()]
        except OSError as exc:
            raise PrepareError(f"{data / listed}: cannot read ({exc.strerror})") from None
    held = set(split["eval"]) | set(split["calibration"])
    split["train"] = sorted(p.name for p in root.iterdir() if p.is_dir() and p.name not in held)
    return split


def prepare_wild(data, out, size: int = 112, colour: str = "rgb", splits=("eval", "calibration", "train"),
                 overwrite: bool = False, progress: bool = True, finder=None) -> dict:
    """Prepare LFW into ``out/<split>`` for each of ``splits``; returns the reports."""
    data, out = Path(data), Path(out)
    people = wild_split(data)
    unknown = set(splits) - set(people)
    if unknown:
        raise PrepareError(f"unknown split {sorted(unknown)[0]!r} (known: {', '.join(people)})")
    settings = Settings(size=size, colour=colour, pick="centre")
    reports = {}
    for split in splits:
        with tempfile.TemporaryDirectory() as tmp:
            src = _linked_source(data, [("lfw", people[split])], Path(tmp))
            reports[split] = prepare(src, out / split, settings, overwrite, finder=finder,
                                     progress=progress)
    return reports
