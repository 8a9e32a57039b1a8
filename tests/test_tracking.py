"""Detecting where faces are and embedding when it tells something (edge.pipeline with
edge.detect.detect_near), on real ORL faces pasted into 640 x 480 frames."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from tests.edge_support import BUNDLE, orl

SIZE = (640, 480)


def face(person: int, photo: int = 2, height: int = 168) -> np.ndarray:
    img = orl(person, photo)
    return cv2.resize(img, (round(img.shape[1] * height / img.shape[0]), height),
                      interpolation=cv2.INTER_CUBIC)


def frame(*placed) -> np.ndarray:
    """A grey room with each (image, x, y) pasted in."""
    out = np.full((SIZE[1], SIZE[0], 3), 100, np.uint8)
    for img, x, y in placed:
        out[y:y + img.shape[0], x:x + img.shape[1]] = img
    return out


class Counting:
    """The pipeline's detector and embedder, counting what they are asked to do."""

    def __init__(self, pipeline):
        self.full = self.near = self.embedded = 0
        det, emb = pipeline.detector, pipeline.embedder
        detect, near, embed = det.detect, det.detect_near, emb.embed

        def count_full(image):
            self.full += 1
            return detect(image)

        def count_near(image, boxes):
            self.near += 1
            return near(image, boxes)

        def count_embed(faces):
            self.embedded += len(faces)
            return embed(faces)

        det.detect, det.detect_near, emb.embed = count_full, count_near, count_embed


@pytest.fixture(scope="module")
def gallery(tmp_path_factory):
    """s1, s5 and s9 enrolled from their first photo."""
    from edge.api import enrol

    path = tmp_path_factory.mktemp("tracking") / "gallery.db"
    for person in (1, 5, 9):
        enrol(f"s{person}", orl(person, 1), gallery=path, bundle=BUNDLE)
    return path


@pytest.fixture
def pipeline(gallery):
    from edge.bundle import load_bundle
    from edge.pipeline import Pipeline
    from gallery.match import Matcher

    bundle = load_bundle(BUNDLE)
    with Matcher(gallery, bundle.sha256, bundle.threshold) as matcher:
        p = Pipeline(bundle, matcher, threads=2, every=1, scan_every=10, reembed=10)
        p.counts = Counting(p)
        yield p


def test_a_face_moving_across_the_frame_is_followed_by_the_local_search(pipeline):
    ada = face(1)
    xs = np.linspace(0, SIZE[0] - ada.shape[1], 30).astype(int)     # 17 px a frame
    results = [pipeline.process(frame((ada, x, 150))) for x in xs]
    assert all(len(r.faces) == 1 for r in results)
    assert {r.faces[0].track for r in results} == {1}
    assert [r.faces[0].name for r in results][2:] == ["s1"] * 28
    for r, x in zip(results, xs):   # the box follows the face
        x1, _, x2, _ = r.faces[0].box
        assert x <= (x1 + x2) / 2 <= x + ada.shape[1]
    counts = pipeline.counts
    assert counts.full == 3 and counts.near == 27        # whole frame at 1, 11, 21
    # embedded while the name settles (3 votes), then every 10th detection
    assert counts.embedded <= 3 + 3 + 2


def test_a_face_that_appears_in_a_corner_is_found_by_the_next_full_scan(pipeline):
    ada, bob = face(1), face(5, height=120)
    results = []
    for i in range(12):
        placed = [(ada, 250, 150)] + ([(bob, 0, 0)] if i >= 3 else [])
        results.append(pipeline.process(frame(*placed)))
    seen = [sorted(f.name for f in r.faces) for r in results]
    assert seen[:10] == [["s1"]] * 10                # Bob, in the corner since frame 3, unseen
    assert len(results[10].faces) == 2                # until the scan at the 11th detection
    assert seen[11] == ["s1", "s5"]


def test_two_people_swapping_places_are_named_right_at_once(pipeline):
    ada, bob = face(1), face(5)
    for _ in range(6):
        settled = pipeline.process(frame((ada, 60, 150), (bob, 400, 150)))
    assert sorted((f.box[0] < 320, f.name) for f in settled.faces) == [(False, "s5"), (True, "s1")]
    before = pipeline.counts.embedded
    swapped = pipeline.process(frame((bob, 60, 150), (ada, 400, 150)))
    assert sorted((f.box[0] < 320, f.name) for f in swapped.faces) == [(False, "s1"), (True, "s5")]
    assert pipeline.counts.embedded - before == 2     # their looks changed: both embedded


def test_photos_are_always_scanned_whole(gallery):
    from edge.bundle import load_bundle
    from edge.pipeline import Pipeline
    from gallery.match import Matcher

    bundle = load_bundle(BUNDLE)
    with Matcher(gallery, bundle.sha256, bundle.threshold) as matcher:
        stills = Pipeline(bundle, matcher, threads=2, stills=True)
        counts = Counting(stills)
        for _ in range(4):
            [found] = stills.process(frame((face(1), 250, 150))).faces
            assert found.name == "s1"
    assert (counts.full, counts.near, counts.embedded) == (4, 0, 4)


def test_with_scans_and_embeddings_every_time_nothing_is_skipped(gallery):
    from edge.bundle import load_bundle
    from edge.pipeline import Pipeline
    from gallery.match import Matcher

    bundle = load_bundle(BUNDLE)
    with Matcher(gallery, bundle.sha256, bundle.threshold) as matcher:
        every = Pipeline(bundle, matcher, threads=2, every=1, scan_every=1, reembed=1)
        counts = Counting(every)
        for x in range(0, 100, 10):
            every.process(frame((face(1), x, 150), (face(9), 400, 150)))
    assert (counts.full, counts.near, counts.embedded) == (10, 0, 20)


def test_a_settled_face_is_embedded_again_when_its_look_changes_in_the_same_box(pipeline):
    """Another person in exactly the box of a settled face (size, score and place alike)
    is caught by the look alone; the same face a few pixels on is not embedded."""
    from dataclasses import replace

    from edge.pipeline import _look

    def seen(person, x):
        image = frame((face(person), x, 150))
        [found] = pipeline.find(image)
        return found, _look(pipeline.align(image, [found])[0])

    (ada, ada_look), (ada_moved, moved_look), (bob, bob_look) = seen(1, 250), seen(1, 253), seen(9, 250)
    track = pipeline.tracker.update([ada.box], ["s1"], [0.3])[0]
    for _ in range(2):
        pipeline.tracker.update([ada.box], ["s1"], [0.3])
    track.embedded_at, track.embedded_size, track.signature = 1, ada.size, ada_look
    assert track.settled
    assert not pipeline._changed(track, 0, [ada_moved], moved_look, clock=2)
    bob_in_adas_box = replace(bob, box=ada.box)
    assert pipeline._changed(track, 0, [bob_in_adas_box], bob_look, clock=2)
    assert float(ada_look @ moved_look) > 0.9 > 0.85 > float(ada_look @ bob_look)
