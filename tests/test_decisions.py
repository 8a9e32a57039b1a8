"""Decisions (edge.decisions): a face named, renamed and gone, as events, not frames."""
from __future__ import annotations

from tests.test_tracking import face, frame, gallery, pipeline  # noqa: F401 (fixtures)


def test_a_face_is_announced_once_when_its_name_settles_and_once_when_it_leaves(pipeline):
    ada, stranger = face(1), face(30)
    events = []
    for i in range(30):
        placed = [(ada, 100 + 3 * i, 150)] + ([(stranger, 420, 120)] if i < 12 else [])
        events += [(i, d) for d in pipeline.process(frame(*placed)).decisions]
    said = [(i, d.kind, d.name) for i, d in events]
    assert said[:2] == [(2, "settled", "s1"), (2, "settled", "unknown")]   # three votes agree
    ended = [(i, name) for i, kind, name in said if kind == "ended"]
    assert ended == [(17, "unknown")]       # gone from frame 12, dropped after 5 missed + 1
    assert len(said) == 3                   # Ada stays: no repeat while she is followed
    settled = events[0][1]
    assert settled.thumbnail.shape == (112, 112, 3) and settled.distance < 1.0
    assert set(settled.as_dict()) == {"kind", "track", "name", "distance", "margin", "box", "time"}


def test_a_settled_name_that_changes_is_announced_as_changed(pipeline, gallery):
    from gallery import Gallery

    ada = face(1)
    kinds = []
    for i in range(20):      # a settled face is embedded again at the 13th detection
        if i == 5:
            with Gallery(gallery) as g:
                g.rename("s1", "Ada")
        kinds += [(d.kind, d.name, d.previous) for d in pipeline.process(frame((ada, 200, 150))).decisions]
    with Gallery(gallery) as g:
        g.rename("Ada", "s1")
    assert kinds == [("settled", "s1", None), ("changed", "Ada", "s1")]


def test_each_face_of_a_photo_is_its_own_decision(gallery):
    from edge.bundle import load_bundle
    from edge.pipeline import Pipeline
    from gallery.match import Matcher
    from tests.edge_support import BUNDLE

    bundle = load_bundle(BUNDLE)
    with Matcher(gallery, bundle.sha256, bundle.threshold) as matcher:
        stills = Pipeline(bundle, matcher, threads=2, stills=True)
        for _ in range(2):
            decisions = stills.process(frame((face(1), 40, 150), (face(5), 400, 150))).decisions
            assert sorted((d.kind, d.name) for d in decisions) == [("settled", "s1"), ("settled", "s5")]
            assert {d.track for d in decisions} == {1, 2}
