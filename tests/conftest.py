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
