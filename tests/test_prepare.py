import json
import os
import shutil

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from edge.align import template
from edge.faces import Face
from tests.conftest import need_data
from train.cli import main as cli
from train.prepare import PrepareError, Settings, prepare


class FakeFinder:
    """Faces where the image says: a bright square marks one face per square."""

    def find(self, image):
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        n, _, stats, _ = cv2.connectedComponentsWithStats((grey > 200).astype(np.uint8))
        faces = []
        for x, y, w, h, _ in stats[1:n]:
            marks = template(112) * (w / 112) + np.array([x, y])
            faces.append(Face((x, y, x + w, y + h), 0.99, marks))
        return faces


def _photo(path, squares, size=(120, 160)):
    img = np.zeros((*size, 3), np.uint8)
    for x, y, s in squares:
        img[y:y + s, x:x + s] = 255
    cv2.imwrite(str(path), img)


@pytest.fixture
def src(tmp_path):
    root = tmp_path / "src"
    for person in ("ann", "bob"):
        (root / person).mkdir(parents=True)
        for i in range(3):
            _photo(root / person / f"{i}.png", [(20 + i, 20, 60)])
    _photo(root / "ann" / "two.jpg", [(5, 5, 50), (80, 40, 48)])
    _photo(root / "ann" / "none.bmp", [])
    (root / "ann" / "empty.jpg").write_bytes(b"")
    (root / "ann" / "notes.txt").write_text("hello")
    (root / "bob" / "junk.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    return root


def test_prepare_keeps_single_faces_and_says_why_others_are_rejected(src, tmp_path):
    dst = tmp_path / "dst"
    report = prepare(src, dst, Settings(size=32), finder=FakeFinder(), progress=False)
    assert report["counts"] == {"aligned": 6, "rejected": 5}
    reasons = {f["file"]: f["reason"] for f in report["files"] if f["status"] == "rejected"}
    assert "similar size" in reasons["two.jpg"]
    assert reasons["none.bmp"] == "no face found"
    assert "empty" in reasons["empty.jpg"]
    assert "not an image" in reasons["notes.txt"]
    assert "not a readable image" in reasons["junk.png"]
    assert sorted(os.listdir(dst / "ann")) == ["0.png", "1.png", "2.png"]
    assert cv2.imread(str(dst / "ann" / "0.png"), cv2.IMREAD_UNCHANGED).shape == (32, 32)
    assert (dst / "_sheets" / "ann.png").exists()
    assert json.loads((dst / "prepare.json").read_text())["counts"] == report["counts"]


def test_prepare_whole_mode_keeps_faceless_crops(src, tmp_path):
    report = prepare(src, tmp_path / "d", Settings(size=32, whole_if_no_face=True),
                     finder=FakeFinder(), progress=False)
    assert report["counts"]["whole"] == 1          # none.bmp kept whole
    assert "two.jpg" not in [f["file"] for f in report["files"] if f["status"] == "whole"]


def test_prepare_refuses_to_overwrite_and_bad_sources(src, tmp_path):
    dst = tmp_path / "dst"
    dst.mkdir()
    (dst / "keep.txt").write_text("mine")
    with pytest.raises(PrepareError, match="--overwrite"):
        prepare(src, dst, finder=FakeFinder(), progress=False)
    assert (dst / "keep.txt").read_text() == "mine"
    with pytest.raises(PrepareError, match="no person folders"):
        prepare(tmp_path / "dst", tmp_path / "x", finder=FakeFinder(), progress=False)
    with pytest.raises(PrepareError, match="not a folder"):
        prepare(tmp_path / "nope", tmp_path / "y", finder=FakeFinder(), progress=False)


def test_prepare_flags_a_crop_unlike_its_person(tmp_path):
    root = tmp_path / "src" / "cara"
    root.mkdir(parents=True)
    rng = np.random.default_rng(0)
    base = rng.integers(0, 100, size=(112, 112, 3)).astype(np.uint8)
    base[20:90, 20:90] = 255
    for i in range(8):
        cv2.imwrite(str(root / f"{i}.png"), base)
    odd = base.copy()
    odd[:, :56] = 0
    odd[20:90, 20:90] = 255
    odd[30:80, 30:56] = 0
    cv2.imwrite(str(root / "odd.png"), odd)
    report = prepare(tmp_path / "src", tmp_path / "dst", Settings(size=48, whole_if_no_face=True),
                     finder=FakeFinder(), progress=False)
    flagged = [f["file"] for f in report["files"] if f["outlier"]]
    assert flagged == ["odd.png"]


def test_cli_prepare_errors_are_one_line(tmp_path):
    r = CliRunner().invoke(cli, ["prepare", str(tmp_path / "missing"), str(tmp_path / "out")])
    assert r.exit_code == 1
    assert r.output.strip().splitlines() == [f"Error: {tmp_path / 'missing'}: not a folder"]


@pytest.mark.tf  # mtcnn, loaded by train.prepare when it detects faces
def test_prepare_with_mtcnn_on_real_photos(tmp_path):
    """The real detector on real faces: ORL and a celebrity aligned, a two-person
    collage rejected."""
    orl, celebs = need_data("orl", "s3"), need_data("celebs", "iu")
    src = tmp_path / "src"
    (src / "s3").mkdir(parents=True)
    for f in sorted(orl.iterdir())[:3]:
        shutil.copy(f, src / "s3" / f.name)
    (src / "iu").mkdir()
    photos = sorted(celebs.iterdir())[:2]
    for f in photos:
        shutil.copy(f, src / "iu" / f.name)
    a, b = (cv2.imread(str(p)) for p in photos)
    cv2.imwrite(str(src / "iu" / "pair.png"), np.hstack([a, b]))
    report = prepare(src, tmp_path / "dst", Settings(size=64), progress=False)
    status = {f["file"]: (f["status"], f["reason"]) for f in report["files"]}
    assert status["pair.png"][0] == "rejected" and "similar size" in status["pair.png"][1]
    assert sum(s == "aligned" for s, _ in status.values()) >= 4


def test_prepare_centre_takes_the_face_nearest_the_centre(tmp_path):
    root = tmp_path / "src" / "dee"
    root.mkdir(parents=True)
    # 160 wide, 120 high: a large face on the left, a smaller one in the middle
    _photo(root / "crowd.png", [(2, 10, 60), (70, 40, 40)])
    _photo(root / "alone.png", [(60, 30, 50)])
    single = prepare(tmp_path / "src", tmp_path / "a", Settings(size=32), finder=FakeFinder(),
                     progress=False)
    centre = prepare(tmp_path / "src", tmp_path / "b", Settings(size=32, pick="centre"),
                     finder=FakeFinder(), progress=False)
    assert {f["file"]: f["status"] for f in single["files"]} == {"alone.png": "aligned",
                                                                 "crowd.png": "rejected"}
    files = {f["file"]: f for f in centre["files"]}
    assert files["crowd.png"]["status"] == "aligned" and files["crowd.png"]["faces"] == 2
    assert centre["several_faces"] == 1 and "nearest the photo's centre" in centre["pick"]
    # the crop is the middle face's: its template-aligned square fills the crop, whereas
    # the large left face would leave the crop's left part dark
    crop = cv2.imread(str(tmp_path / "b" / "dee" / "crowd.png"), cv2.IMREAD_GRAYSCALE)
    ref = cv2.imread(str(tmp_path / "b" / "dee" / "alone.png"), cv2.IMREAD_GRAYSCALE)
    assert np.abs(crop.astype(int) - ref).mean() < 5


@pytest.mark.tf  # mtcnn, loaded by train.prepare when it detects faces
def test_prepare_wild_takes_the_labelled_person_among_others(tmp_path):
    """Real LFW photos side by side, the labelled one in the middle: the single-face rule
    rejects the photo, the centre rule keeps the middle person's face."""
    lfw = need_data("lfw")
    a, b, c = (cv2.imread(str(sorted((lfw / p).iterdir())[0]))
               for p in ("Al_Gore", "Colin_Powell", "Adrien_Brody"))
    src = tmp_path / "src" / "Colin_Powell"
    src.mkdir(parents=True)
    for name, photo in (("alone", b), ("left", a), ("right", c)):
        cv2.imwrite(str(src / f"{name}.png"), photo)
    cv2.imwrite(str(src / "row.png"), np.hstack([a, b, c]))
    finder = __import__("train.mtcnn_faces", fromlist=["x"]).MtcnnFaces()
    single = prepare(tmp_path / "src", tmp_path / "s", Settings(size=64), finder=finder,
                     progress=False)
    assert {f["file"]: f["status"] for f in single["files"]}["row.png"] == "rejected"
    centre = prepare(tmp_path / "src", tmp_path / "c", Settings(size=64, pick="centre"),
                     finder=finder, progress=False)
    assert centre["counts"] == {"aligned": 4}
    crop, alone, left, right = (
        cv2.imread(str(tmp_path / "c" / "Colin_Powell" / f"{f}.png")).astype(np.float32)
        for f in ("row", "alone", "left", "right"))
    # the middle person's face, far nearer his own crop than his neighbours'
    diff = {k: np.abs(crop - v).mean() for k, v in (("alone", alone), ("left", left),
                                                     ("right", right))}
    assert diff["alone"] < 0.4 * min(diff["left"], diff["right"]), diff
