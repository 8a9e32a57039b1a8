"""Matching: nearest person, unknown, top-k, margin, model mismatch, other processes."""
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import gallery
from gallery import Gallery, GalleryError, Matcher, ModelMismatch

MODEL_A = hashlib.sha256(b"model a").hexdigest()
MODEL_B = hashlib.sha256(b"model b").hexdigest()
ROOT = Path(gallery.__file__).resolve().parents[1]
FACE = np.zeros((8, 8), np.uint8)


def unit(v):
    v = np.asarray(v, np.float64)
    return (v / np.linalg.norm(v)).astype(np.float32)


def basis(i, dim=8):
    return np.eye(dim, dtype=np.float32)[i]


@pytest.fixture
def path(tmp_path):
    return tmp_path / "g.db"


def enrol(path, name, vector, model=MODEL_A):
    with Gallery(path) as g:
        g.enrol(name, vector, model, FACE, append=True)


def brute_force(query, names, matrix):
    d = np.linalg.norm(matrix.astype(np.float64) - unit(query), axis=1)
    best = {}
    for n, x in zip(names, d):
        best[n] = min(best.get(n, np.inf), x)
    return sorted(best.items(), key=lambda kv: kv[1])


def test_nearest_unknown_topk_margin(path):
    enrol(path, "Ada", basis(0))
    enrol(path, "Bob", basis(1))
    enrol(path, "Cy", unit(basis(0) + basis(2)))  # 45 degrees from Ada
    with Matcher(path, MODEL_A, threshold=0.5, top_k=2) as m:
        assert (m.people, m.size) == (3, 3)
        hit = m.match(unit(basis(0) + 0.1 * basis(3)))
        assert hit.name == "Ada" and hit.known
        assert hit.distance == pytest.approx(np.linalg.norm(unit(basis(0) + 0.1 * basis(3))
                                                            - basis(0)), abs=1e-5)
        second = np.linalg.norm(unit(basis(0) + 0.1 * basis(3)) - unit(basis(0) + basis(2)))
        assert hit.margin == pytest.approx(second - hit.distance, abs=1e-5)
        assert [n for n, _ in hit.candidates] == ["Ada", "Cy"]  # top 2 only
        miss = m.match(basis(5))  # far from everyone
        assert miss.name is None and not miss.known
        assert miss.distance == pytest.approx(np.sqrt(2), abs=1e-5)
        assert len(miss.candidates) == 2  # the nearest are still reported
        assert m.match(basis(0) * 7).name == "Ada"  # queries need not be unit length
        assert miss.as_dict()["name"] is None


def test_threshold_is_inclusive(path):
    enrol(path, "Ada", basis(0))
    query = unit(basis(0) + basis(1))  # distance sqrt(2 - sqrt(2)) from Ada
    d = float(np.sqrt(2 - np.sqrt(2)))
    assert Matcher(path, MODEL_A, threshold=d + 1e-4).match(query).name == "Ada"
    assert Matcher(path, MODEL_A, threshold=d - 1e-4).match(query).name is None


def test_person_distance_is_their_nearest_embedding(path):
    enrol(path, "Ada", basis(0))
    enrol(path, "Bob", basis(1))
    enrol(path, "Ada", basis(2))  # Ada's second enrolment
    with Matcher(path, MODEL_A, threshold=0.5, top_k=5) as m:
        assert (m.people, m.size) == (2, 3)
        result = m.match(unit(basis(2) + 0.05 * basis(1)))
        assert result.name == "Ada"
        assert [n for n, _ in result.candidates] == ["Ada", "Bob"]  # each person once


def test_matches_brute_force(path):
    rng = np.random.default_rng(0)
    with Gallery(path) as g, g.batch():
        for i in range(300):
            g.enrol(f"p{i % 120}", rng.normal(size=32), MODEL_A, FACE, append=True)
        names, matrix = g.embeddings(MODEL_A)
    queries = rng.normal(size=(50, 32))
    with Matcher(path, MODEL_A, threshold=1.2, top_k=4) as m:
        for q, result in zip(queries, m.match_many(queries)):
            expected = brute_force(q, names, matrix)[:4]
            assert [n for n, _ in result.candidates] == [n for n, _ in expected]
            np.testing.assert_allclose([d for _, d in result.candidates],
                                       [d for _, d in expected], atol=2e-3)
            assert result.margin == pytest.approx(expected[1][1] - expected[0][1], abs=2e-3)
            assert (result.name is None) == (expected[0][1] > 1.2)


def test_empty_gallery_is_unknown_not_error(path):
    with Matcher(path, MODEL_A, threshold=0.5) as m:  # creates the empty gallery
        result = m.match(basis(0))
        assert (result.name, result.distance, result.margin, result.candidates) == \
            (None, None, None, ())
        assert len(m.match_many(np.eye(4))) == 4
    enrol(path, "Ada", basis(0))
    with Matcher(path, MODEL_A, threshold=0.5) as m:
        assert m.match(basis(0)).margin is None  # one person: no second for a margin


def test_model_mismatch_says_what_to_do(path):
    enrol(path, "Ada", basis(0), model=MODEL_A)
    with pytest.raises(ModelMismatch, match="edge-gallery reembed --bundle") as caught:
        Matcher(path, MODEL_B, threshold=0.5)
    assert str(caught.value).endswith(f"--gallery {path.resolve()}")
    assert "old bundle's embeddings will then no longer match" in str(caught.value)
    exc = caught.value
    assert (exc.gallery, exc.stored, exc.offered) == (path, MODEL_A, MODEL_B)
    with Matcher(path, MODEL_A, threshold=0.5) as m:
        with pytest.raises(GalleryError, match="8-value"):
            m.match(np.ones(16))


def test_sees_changes_from_another_connection(path):
    with Matcher(path, MODEL_A, threshold=0.5) as m:
        assert m.match(basis(0)).name is None
        enrol(path, "Ada", basis(0))
        assert m.match(basis(0)).name == "Ada"
        assert not m.refresh()  # nothing new: no reload
        with Gallery(path) as g:
            g.rename("Ada", "Ada L")
        assert m.match(basis(0)).name == "Ada L"
        with Gallery(path) as g:
            g.remove("Ada L")
        assert m.match(basis(0)).name is None


def test_sees_enrolment_from_another_process(path):
    with Matcher(path, MODEL_A, threshold=0.5) as m:
        assert m.match(basis(3)).name is None
        code = ("import sys, numpy as np; from gallery import Gallery\n"
                f"Gallery(sys.argv[1]).enrol('Zoë', np.eye(8)[3], '{MODEL_A}', "
                "np.zeros((8, 8), np.uint8))\n")
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        subprocess.run([sys.executable, "-c", code, str(path)], check=True, env=env,
                       timeout=60)
        assert m.match(basis(3)).name == "Zoë"


def test_reembed_in_another_process_is_noticed(path):
    enrol(path, "Ada", basis(0))
    with Matcher(path, MODEL_A, threshold=0.5) as m:
        assert m.match(basis(0)).name == "Ada"
        with Gallery(path) as g:
            g._conn.execute("UPDATE embeddings SET model_sha256 = ?", (MODEL_B,))
        with pytest.raises(ModelMismatch):
            m.match(basis(0))


def test_a_threshold_rule_follows_the_gallery_size(path):
    """A threshold given as a function of the stored faces is re-read when the gallery
    grows, in this process or another, so a larger gallery gets the stricter one."""
    enrol(path, "ann", basis(0))
    with Matcher(path, MODEL_A, lambda n: 1.5 / n) as m:
        assert m.threshold == 1.5
        near = unit(basis(0) + 0.9 * basis(1))          # 0.74 from ann
        assert m.match(near).name == "ann"
        enrol(path, "bob", basis(2))
        enrol(path, "cy", basis(3))
        assert m.match(near).name is None              # three faces: 0.5
        assert m.threshold == 0.5
