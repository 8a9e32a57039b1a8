"""Shared fixtures. Real data comes from ../shared/data (always present on CI)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("SIAMESE_EDGE_DATA", ROOT.parent / "shared" / "data"))


def need_data(*parts) -> Path:
    path = DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data missing: {path} (see ../shared/data/README.md)")
    return path


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
