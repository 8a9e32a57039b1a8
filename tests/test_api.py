"""The device API (``edge.api``): the five verbs on real photos and the shipped bundle."""
from __future__ import annotations

import numpy as np
import pytest

import edge
from edge.enrolment import EnrolError
from gallery.errors import GalleryError
from tests.edge_support import BUNDLE, orl, write


def test_find_and_embed_faces_of_a_photo(tmp_path):
    image = orl(1, 1)
    faces = edge.find_faces(image, bundle=BUNDLE)
    assert len(faces) == 1 and faces[0].landmarks.shape == (5, 2)
    x1, y1, x2, y2 = faces[0].box
    assert 0 <= x1 < x2 <= 92 and 0 <= y1 < y2 <= 112
    path = write(tmp_path / "s1.png", image)
    vectors = edge.embed_faces(path, bundle=BUNDLE)          # a path works as well as pixels
    assert vectors.shape[0] == 1
    assert np.linalg.norm(vectors[0]) == pytest.approx(1, abs=1e-5)
    np.testing.assert_allclose(vectors, edge.embed_faces(image, faces, bundle=BUNDLE), atol=1e-6)
    assert edge.embed_faces(np.full((120, 120, 3), 90, np.uint8), bundle=BUNDLE).shape[0] == 0


def test_enrol_then_identify_names_the_person_and_not_a_stranger(tmp_path):
    db = tmp_path / "home.db"
    with pytest.raises(GalleryError, match="no gallery there"):
        edge.identify(orl(1, 2), gallery=db, bundle=BUNDLE)
    with pytest.raises(EnrolError, match="no face"):
        edge.enrol("Ada", np.full((120, 120, 3), 90, np.uint8), gallery=db, bundle=BUNDLE)
    assert not db.exists()                                    # a refusal writes nothing
    assert edge.enrol("Ada", orl(1, 1), gallery=db, bundle=BUNDLE) == [1]
    assert edge.enrol("Bob", write(tmp_path / "b.png", orl(5, 1)), gallery=db, bundle=BUNDLE) == [2]
    with pytest.raises(EnrolError, match="already enrolled"):
        edge.enrol("Ada", orl(1, 3), gallery=db, bundle=BUNDLE)
    assert edge.enrol("Ada", orl(1, 3), gallery=db, bundle=BUNDLE, append=True) == [3]

    [ada] = edge.identify(orl(1, 4), gallery=db, bundle=BUNDLE)
    assert ada.name == "Ada" and ada.known and ada.track == 1
    assert ada.distance < edge.open_bundle(BUNDLE).threshold_for(3)
    [stranger] = edge.identify(orl(35, 2), gallery=db, bundle=BUNDLE)
    assert stranger.name == "unknown" and not stranger.known


def test_the_verbs_are_the_documented_ones():
    assert sorted(edge.__all__) == sorted(["open_bundle", "find_faces", "embed_faces",
                                           "identify", "enrol", "read_image", "Pipeline",
                                           "open_source"])
    for name in edge.__all__:
        assert getattr(edge, name).__doc__, name
    with pytest.raises(AttributeError):
        edge.no_such_verb


def test_importing_edge_imports_no_numpy():
    """The commands set BLAS threads before numpy's first import (edge.cli_common), so the
    package itself must not import numpy: the verbs load on first use."""
    import subprocess
    import sys

    code = "import sys, edge; print('numpy' in sys.modules, 'edge.api' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_no_module_of_edge_hides_a_verb():
    """A submodule named like a verb would replace it on the package once imported."""
    import pkgutil

    import edge.enrolment  # noqa: F401  (the module enrolment stores with)

    assert not {m.name for m in pkgutil.iter_modules(edge.__path__)} & set(edge.__all__)
    assert callable(edge.enrol) and edge.enrol.__module__ == "edge.api"
