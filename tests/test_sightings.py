"""Sightings kept by the identify loop (edge.sightings, gallery.sightings) and the
corrections that teach (gallery.corrections; the rejection rule of gallery.match), on
real gallery files and real ORL faces pasted into frames, clips and photos."""
from __future__ import annotations

import hashlib
import json
import shutil
import socket
import sqlite3
import time

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from gallery import Gallery, Matcher, SchemaTooNew, png, schema
from gallery.corrections import assign, reject
from gallery.errors import GalleryError, UnknownSighting
from gallery.sightings import NewSighting
from tests.conftest import write_locked
from tests.edge_support import BUNDLE, error_lines, orl, write
from tests.test_gallery_store import ProjectionEmbedder
from tests.test_tracking import face, frame

MODEL = hashlib.sha256(b"model a").hexdigest()
ENROLLED = (1, 5, 9, 28)       # ORL people enrolled from their photo 1
STRANGER = 30                  # never enrolled
LOOK_ALIKE = 37                # never enrolled; the fast bundle names s37's photos s28


def unit(v):
    v = np.asarray(v, np.float64)
    return (v / np.linalg.norm(v)).astype(np.float32)


def basis(i, dim=8):
    return np.eye(dim, dtype=np.float32)[i]


CROP = np.zeros((8, 8), np.uint8)


def seen(vector, name=None, at=None, camera="door"):
    return NewSighting(time.time() if at is None else at, camera, name, 0.5, 0.1, vector, CROP)


@pytest.fixture(scope="module")
def bundle():
    from edge.bundle import load_bundle
    return load_bundle(BUNDLE)


@pytest.fixture(scope="module")
def enrolled(tmp_path_factory):
    """A gallery file with the ENROLLED people, each from their photo 1."""
    from edge.api import enrol

    path = tmp_path_factory.mktemp("sightings") / "enrolled.db"
    for person in ENROLLED:
        enrol(f"s{person}", orl(person, 1), gallery=path, bundle=BUNDLE)
    return path


@pytest.fixture
def db(enrolled, tmp_path):
    """A copy of ``enrolled`` of this test's own."""
    return shutil.copy(enrolled, tmp_path / "gallery.db")


def identify(*args):
    from edge.cli_identify import main
    return CliRunner().invoke(main, [*map(str, args), "--bundle", BUNDLE, "--threads", "2"])


def gallery_cli(*args):
    from edge.cli_gallery import cli
    return CliRunner().invoke(cli, [str(a) for a in args])


def kept(db, **filters):
    with Gallery(db, create=False) as g:
        return g.sightings.list(**filters)


def clip(path, frames: int = 30, stranger_until: int = 12):
    """s1 walking across the room, with the stranger beside her for the first frames."""
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 15.0, (640, 480))
    for i in range(frames):
        placed = [(face(1), 100 + 3 * i, 150)]
        if i < stranger_until:
            placed.append((face(STRANGER), 420, 120))
        out.write(frame(*placed))
    out.release()
    return path


def names_in(result) -> list[set]:
    """The names of each frame of an ``edge-identify --json`` run."""
    assert result.exit_code == 0, result.output
    return [{f["name"] for f in json.loads(line)["faces"]} for line in result.stdout.splitlines()]


# -- the loop keeps them --------------------------------------------------------------------

def test_a_clip_keeps_a_sighting_for_each_face_that_settles(db, bundle, tmp_path):
    """s1 and a stranger: one sighting each (their names settled once; the stranger's
    leaving is no sighting), with the face crop, its embedding, the camera and model."""
    video = clip(tmp_path / "clip.mp4")
    start = time.time()
    result = identify("--video", video, "--every", "1", "--json", "--gallery", db)
    assert result.exit_code == 0, result.output
    assert error_lines(result.stderr) == []
    found = kept(db)
    assert sorted((s.name or "unknown") for s in found) == ["s1", "unknown"]
    with Gallery(db) as g:
        for s in found:
            assert s.camera == socket.gethostname().split(".")[0]
            assert start - 1 <= s.time <= time.time() and s.model_sha256 == bundle.sha256
            vector, data = g.sightings.face(s.id)
            assert vector.shape == (s.dim,) and abs(np.linalg.norm(vector) - 1) < 1e-5
            assert png.decode(data).shape == (112, 112, 3)      # the canonical crop
            assert s.distance is not None and s.margin is not None   # four people enrolled
    assert found[0].id > found[1].id          # newest first


def test_assigning_a_strangers_sighting_names_them_on_the_next_clip(db, tmp_path):
    video = clip(tmp_path / "clip.mp4")
    before = names_in(identify("--video", video, "--every", "1", "--json", "--gallery", db))
    assert any("unknown" in n for n in before) and not any("Zed" in n for n in before)
    [stranger] = kept(db, unknown=True)
    result = gallery_cli("assign", stranger.id, "Zed", "--gallery", db)
    assert result.exit_code == 0, result.output
    assert result.stdout == f"enrolled Zed from sighting {stranger.id} (its stored " \
                            f"embedding; enrolment {len(ENROLLED) + 1})\n"
    after = names_in(identify("--video", video, "--every", "1", "--json", "--gallery", db))
    assert [n for n in after[2:12]] == [{"s1", "Zed"}] * 10   # once three votes agree
    assert not any("unknown" in n for n in after)
    assert sorted(s.name for s in kept(db, since=time.time() - 60) if s.known) == \
        ["Zed", "s1", "s1"]
    with Gallery(db) as g:
        assert g.person("zed").enrolments[0].source == f"sighting {stranger.id}"


def test_no_sightings_keeps_none(db, tmp_path):
    result = identify("--video", clip(tmp_path / "clip.mp4"), "--every", "1",
                      "--no-sightings", "--gallery", db)
    assert result.exit_code == 0, result.output
    assert kept(db) == []


def test_photos_keep_a_sighting_for_each_face(db, tmp_path):
    for person in (1, STRANGER):
        write(tmp_path / "photos" / f"s{person}.png", orl(person, 3))
    result = identify("--images", tmp_path / "photos", "--json", "--gallery", db)
    assert result.exit_code == 0, result.output
    assert sorted(s.name or "unknown" for s in kept(db)) == ["s1", "unknown"]


def test_the_sighting_id_is_set_before_the_other_outputs_see_the_decision(db, bundle):
    """The output keeps "settled" and "changed" decisions (not "ended") and gives each
    its id; an output after it (MQTT, the web) sees the id in the decision."""
    from edge.pipeline import Pipeline
    from edge.sightings import SightingsOutput

    told = []
    out = SightingsOutput(db, bundle.sha256, "hall", tell=told.append)
    with Matcher(db, bundle.sha256, bundle.threshold) as matcher:
        pipeline = Pipeline(bundle, matcher, threads=2, every=1)
        decisions = []
        for i in range(20):
            placed = [(face(5), 100 + 3 * i, 150)] + ([(face(STRANGER), 420, 120)] if i < 8 else [])
            result = pipeline.process(frame(*placed))
            ids = out.publish(result)
            decisions += [(d.kind, d.name, d.sighting) for d in result.decisions]
            assert ids == [d.sighting for d in result.decisions if d.kind != "ended"]
    out.close()
    assert sorted((k, n) for k, n, _ in decisions[:2]) == [("settled", "s5"),
                                                          ("settled", "unknown")]
    assert decisions[2] == ("ended", "unknown", None) and len(decisions) == 3 and told == []
    stored = {s.id: (s.name or "unknown", s.camera) for s in kept(db)}
    assert stored == {sid: (name, "hall") for _, name, sid in decisions[:2]}


def test_a_busy_gallery_costs_sightings_not_identification(db, bundle):
    """Another program holds the write lock: the output waits a quarter of a second,
    skips, says so once, and keeps the next ones when the lock is gone."""
    from edge.pipeline import Pipeline
    from edge.sightings import SightingsOutput

    told = []
    out = SightingsOutput(db, bundle.sha256, "door", tell=told.append)
    with Matcher(db, bundle.sha256, bundle.threshold) as matcher:
        pipeline = Pipeline(bundle, matcher, threads=2, every=1)
        named = []
        with write_locked(db):
            for i in range(12):          # two people settle: two decisions, both skipped
                x = 60 + 2 * i
                started = time.monotonic()
                result = pipeline.process(frame((face(1), x, 150), (face(9), x + 300, 150)))
                assert out.publish(result) == []
                assert time.monotonic() - started < 2
                named.append(sorted(f.name for f in result.faces))
        assert named[-1] == ["s1", "s9"]        # identification went on
        assert len(told) == 1 and told[0].startswith(f"sightings: the gallery {db} is busy")
        assert "identification goes on" in told[0] and out.skipped == 2
        for _ in range(4):                                        # a new face after the lock
            out.publish(pipeline.process(frame((face(5), 250, 150))))
    out.close()
    assert [s.name for s in kept(db)] == ["s5"] and len(told) == 1


def test_a_gallery_that_cannot_be_written_is_said_once(db, bundle, read_only):
    from edge.sightings import SightingsOutput

    read_only(db)
    told = []
    out = SightingsOutput(db, bundle.sha256, tell=told.append)
    assert len(told) == 1 and "read-only" in told[0] and "identification goes on" in told[0]
    out.close()


# -- the store: retention, ids, migration ------------------------------------------------------

def test_sightings_are_pruned_by_age_and_count_when_new_ones_come(tmp_path):
    path = tmp_path / "g.db"
    with Gallery(path) as g:
        old = g.sightings.add([seen(basis(0), at=time.time() - 40 * 86400),
                               seen(basis(1), at=time.time() - 20 * 86400)], MODEL,
                              keep_days=None)
        assert g.sightings.count() == 2
        new = g.sightings.add([seen(basis(2), "Ada")], MODEL)   # 30 days, 10,000
        assert [s.id for s in g.sightings.list()] == [new[0], old[1]]
        ids = g.sightings.add([seen(basis(i % 8)) for i in range(5)], MODEL, keep=3)
        assert [s.id for s in g.sightings.list()] == ids[::-1][:3]
        assert g.sightings.prune(keep=0) == 3 and g.sightings.count() == 0
        again = g.sightings.add([seen(basis(3))], MODEL)        # ids are never given twice
        assert again[0] == ids[-1] + 1
        with pytest.raises(UnknownSighting, match=f"no sighting {ids[0]} in"):
            g.sightings.get(ids[0])
        assert g.check() == []


def test_listing_filters(tmp_path):
    now = time.time()
    with Gallery(tmp_path / "g.db") as g:
        a, b, c = g.sightings.add([seen(basis(0), "Ada", now - 7200),
                                   seen(basis(1), None, now - 600),
                                   seen(basis(2), "Bob", now - 60, camera="  back   door ")],
                                  MODEL)
        assert [s.id for s in g.sightings.list()] == [c, b, a]
        assert [s.id for s in g.sightings.list(unknown=True)] == [b]
        assert [s.id for s in g.sightings.list(since=now - 3600)] == [c, b]
        assert [s.id for s in g.sightings.list(limit=1)] == [c]
        assert [s.id for s in g.sightings.list(before=c)] == [b, a]
        got = g.sightings.get(str(c))
        assert (got.name, got.camera, got.dim) == ("Bob", "back door", 8)
        assert got.as_dict()["time"].endswith("+00:00") and not g.sightings.get(b).known


def test_an_old_gallery_is_upgraded_in_place_and_older_code_refuses_the_new_one(
        tmp_path, monkeypatch):
    from gallery.values import thumbnail_png

    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)              # a gallery as version 1 wrote it
    schema.MIGRATIONS[0](conn)
    conn.execute("INSERT INTO people (id, name, created) VALUES (1, 'Ada', '2026-11-01')")
    vector = basis(0).astype("<f4")
    conn.execute("INSERT INTO embeddings (id, person, vector, dim, model_sha256, created) "
                 "VALUES (1, 1, ?, ?, ?, '2026-11-01')", (vector.tobytes(), vector.size, MODEL))
    conn.execute("INSERT INTO thumbnails VALUES (1, ?)", (thumbnail_png(CROP),))
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'sightings'"
                        ).fetchone()[0] == 0
    conn.close()
    with Gallery(path) as g:                  # this code: upgraded when opened
        assert [p.name for p in g.people()] == ["Ada"]
        assert g.person("ADA").name == "Ada"  # the names' keys made by the upgrade
        [sid] = g.sightings.add([seen(basis(0), "Ada")], MODEL)
        reject(g, sid, "Ada")
        assert g.check() == []
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == schema.VERSION == 3
    conn.close()
    with monkeypatch.context() as old:        # the code of version 1
        old.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:1])
        old.setattr(schema, "VERSION", 1)
        stored = path.read_bytes()
        with pytest.raises(SchemaTooNew, match="version 3, but this siamese-edge reads up "
                                               "to version 1: upgrade siamese-edge"):
            Gallery(path)
        assert path.read_bytes() == stored


# -- the rule --------------------------------------------------------------------------------

@pytest.fixture
def two(tmp_path):
    """Ada at e0, Bob at e1; threshold 1.0 (60 degrees)."""
    path = tmp_path / "g.db"
    with Gallery(path) as g:
        g.enrol("Ada", basis(0), MODEL, CROP)
        g.enrol("Bob", basis(1), MODEL, CROP)
    return path


def test_a_face_closer_to_a_rejected_face_than_to_the_persons_own_is_not_theirs(two):
    look_alike = unit(basis(0) + 0.5 * basis(2))          # 0.45 from Ada
    with Gallery(two) as g, Matcher(two, MODEL, threshold=1.0) as m:
        assert m.match(look_alike).name == "Ada"
        [sid] = g.sightings.add([seen(look_alike, "Ada")], MODEL)
        done = reject(g, sid, "ada")
        assert (done.name, done.reembedded) == ("Ada", False)
        refused = m.match(unit(look_alike + 0.1 * basis(3)))   # near the rejected face
        assert refused.name is None and refused.refused == ("Ada",)
        assert refused.candidates[0][0] == "Bob" and refused.distance > 1.0
        assert refused.as_dict()["refused"] == ["Ada"]
        kept_ada = m.match(unit(basis(0) + 0.2 * basis(2)))     # nearer Ada's own face
        assert kept_ada.name == "Ada" and kept_ada.refused == ()
        past_halfway = unit(basis(0) + 0.25 * basis(2))       # just nearer the rejected one
        assert m.match(past_halfway).name is None
        # the next person within the threshold takes the face
        near_bob_too = unit(basis(0) + 0.5 * basis(2) + 0.9 * basis(1))
        assert m.match(near_bob_too).name == "Bob"


def test_rejections_go_with_their_person_and_can_be_taken_back(two):
    look_alike = unit(basis(0) + 0.5 * basis(2))
    with Gallery(two) as g, Matcher(two, MODEL, threshold=1.0) as m:
        [sid] = g.sightings.add([seen(look_alike, "Ada")], MODEL)
        rid = reject(g, sid, "Ada").id
        assert [(r.name, r.sighting) for r in g.rejections.list()] == [("Ada", sid)]
        assert m.match(look_alike).name is None
        assert g.rejections.remove(rid) == "Ada"
        assert m.match(look_alike).name == "Ada"
        reject(g, sid, "Ada")
        g.remove("Ada")
        assert g.rejections.list() == [] and g.check() == []


def test_reembedding_re_embeds_the_rejections_too(tmp_path):
    """A rejection is kept with its face crop, and re-made by the new model with the
    enrolments, so the rule works the same after a bundle change."""
    path = tmp_path / "g.db"
    embedder = ProjectionEmbedder(dim=32, size=16)
    faces = [np.random.default_rng(i).integers(0, 256, (16, 16), dtype=np.uint8)
             for i in range(3)]
    old = ProjectionEmbedder(dim=16, size=16, seed=7)
    with Gallery(path) as g:
        g.enrol("Ada", old.embed([faces[0]])[0], old.sha256, faces[0])
        [sid] = g.sightings.add([NewSighting(time.time(), "door", "Ada", 0.4, None,
                                             old.embed([faces[1]])[0], faces[1])], old.sha256)
        reject(g, sid, "Ada")
        assert g.reembed(embedder) == 1
        names, matrix = g.rejections.vectors(embedder.sha256)
        assert names == ["Ada"] and np.allclose(matrix[0], embedder.embed([faces[1]])[0],
                                                atol=1e-6)
        assert g.rejections.vectors(old.sha256)[0] == []
        # a sighting of the old model is embedded again from its crop when corrected
        with pytest.raises(GalleryError, match="give that model's bundle"):
            assign(g, sid, "Bob")
        done = assign(g, sid, "Bob", embedder)
        assert done.reembedded and g.embeddings(embedder.sha256)[0] == ["Ada", "Bob"]


# -- edge-gallery sightings, assign, reject: one line for every mistake -------------------------

def test_the_commands(two, tmp_path):
    with Gallery(two) as g:
        a, b = g.sightings.add([seen(unit(basis(0) + 0.5 * basis(2)), "Ada"),
                                seen(basis(3))], MODEL)
    listed = gallery_cli("sightings", "--gallery", two)
    assert listed.exit_code == 0, listed.output
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["ID", "TIME", "CAMERA", "DISTANCE", "NAME"]
    assert lines[1].split()[0] == str(b) and lines[1].split()[-1] == "unknown"
    assert lines[2].split()[-2:] == ["0.500", "Ada"] and lines[-1].startswith("2 sightings")
    data = json.loads(gallery_cli("sightings", "--unknown", "--json", "--since", "1h",
                                  "--thumbnails", tmp_path / "crops", "--gallery", two).stdout)
    assert [s["id"] for s in data["sightings"]] == [b]
    assert (tmp_path / "crops" / f"{b}.png").exists()
    assert "no sightings since 2999-01-01" in gallery_cli(
        "sightings", "--since", "2999-01-01", "--gallery", two).stdout

    done = gallery_cli("reject", a, "ada", "--gallery", two)
    assert done.exit_code == 0 and f"sighting {a}'s face is not Ada" in done.stdout
    rejections = json.loads(gallery_cli("rejections", "--json", "--gallery", two).stdout)
    assert [(r["name"], r["sighting"]) for r in rejections["rejections"]] == [("Ada", a)]
    done = gallery_cli("assign", b, "Ada", "--gallery", two)
    assert done.exit_code == 0 and done.stdout.startswith(
        f"added a face to Ada (2 embeddings now) from sighting {b}")
    done = gallery_cli("unreject", rejections["rejections"][0]["id"], "--gallery", two)
    assert done.exit_code == 0 and "may be named Ada again" in done.stdout


@pytest.mark.parametrize("args, message", [
    (["assign", "999", "Zed"], "no sighting 999 in"),
    (["assign", "seven", "Zed"], "'seven' is not a sighting id"),
    (["assign", "0", "Zed"], "no sighting 0 (ids are whole numbers from 1"),
    (["assign", "99999999999999999999999", "Zed"], "no sighting 99999999999999999999999"),
    (["assign", "1", "  "], "a name cannot be empty"),
    (["assign", "1", "Zed\x07"], "holds the control character U+0007"),
    (["reject", "1", "Nobody"], "no one named 'Nobody'"),
    (["reject", "999", "Ada"], "no sighting 999 in"),
    (["unreject", "5"], "no rejection '5'"),
    (["sightings", "--since", "yesterday"], "cannot read 'yesterday' as a time"),
])
def test_mistakes_are_one_line_and_change_nothing(two, args, message):
    with Gallery(two) as g:
        g.sightings.add([seen(basis(3))], MODEL)
    result = gallery_cli(*args, "--gallery", two)
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output and message in lines[0], lines
    with Gallery(two) as g:
        assert [p.name for p in g.people()] == ["Ada", "Bob"] and g.rejections.list() == []


# -- rejecting a look-alike: in the loop, and measured -----------------------------------------

def test_rejecting_a_look_alikes_sightings_stops_them_being_named(db, bundle, tmp_path):
    """s37, never enrolled, is named s28 (the fast bundle puts them close). Two of s37's
    sightings rejected as "not s28": s37's other photos are no longer named s28; s28's own
    still are, but for one that is nearer s37's rejected faces than s28's stored one
    (measured with fast: 0 of s37's 5 other faces, 8 of s28's 9). Assigning that one's
    sighting to s28 teaches the rest: then all 9 are s28, and s37 still is not."""
    first, probes = tmp_path / "first", tmp_path / "probes"
    for k in (2, 3):
        write(first / f"s37_{k}.png", orl(LOOK_ALIKE, k))
    for k in range(4, 11):
        write(probes / f"a_s37_{k:02d}.png", orl(LOOK_ALIKE, k))
    for k in range(2, 11):
        write(probes / f"b_s28_{k:02d}.png", orl(28, k))
    named = names_in(identify("--images", first, "--json", "--gallery", db))
    if named != [{"s28"}, {"s28"}]:
        pytest.skip(f"the {BUNDLE} bundle does not name s37 as s28 ({named})")
    rejected = kept(db)

    def run():
        """(s37's names, s28's names, s28's sightings), one per photo with a face."""
        since = time.time()
        names = names_in(identify("--images", probes, "--json", "--gallery", db))
        sightings = kept(db, since=since)[::-1]          # one per face, in the files' order
        found = [(n, s) for n, s in zip([n for n in names if n], sightings)]
        assert len(sightings) == len(found) == sum(map(bool, names))
        s28 = sum(map(bool, names[7:]))
        return [n for n, _ in found[:-s28]], [n for n, _ in found[-s28:]], \
            [s for _, s in found[-s28:]]

    look_alike, own, _ = run()
    print(f"\n{BUNDLE}: before: of s37's other {len(look_alike)} faces, "
          f"{sum(n == {'s28'} for n in look_alike)} named s28; of s28's 9 others, "
          f"{sum(n == {'s28'} for n in own)} named s28")
    assert sum(n == {"s28"} for n in look_alike) >= 4 and own == [{"s28"}] * 9
    for s in rejected:
        result = gallery_cli("reject", s.id, "s28", "--gallery", db)
        assert result.exit_code == 0, result.output
    look_alike, own, own_sightings = run()
    assert len(own) == 9 and len(look_alike) >= 4     # the detector misses some of s37's
    lost = [s for s, n in zip(own_sightings, own) if n != {"s28"}]
    print(f"{BUNDLE}: after rejecting 2 of s37's sightings as not s28: of s37's other "
          f"{len(look_alike)} faces, {sum(n == {'s28'} for n in look_alike)} named s28; of "
          f"s28's 9 others, {9 - len(lost)} named s28")
    assert sum(n == {"s28"} for n in look_alike) <= 1 and len(lost) <= 1
    for s in lost:
        result = gallery_cli("assign", s.id, "s28", "--gallery", db)
        assert result.exit_code == 0, result.output
    look_alike, own, _ = run()
    print(f"{BUNDLE}: and after assigning {len(lost)} of s28's to s28: s37's named s28: "
          f"{sum(n == {'s28'} for n in look_alike)}; s28's: {sum(n == {'s28'} for n in own)}")
    assert sum(n == {"s28"} for n in look_alike) <= 1 and own == [{"s28"}] * 9


# -- the measurement: rejecting look-alikes on real faces --------------------------------------

EVAL = [f"s{p}" for p in range(21, 41)]   # ORL's evaluation people (the standard protocol)
REJECTED = 2                  # sightings of the look-alike rejected in each trial
MIN_CONFUSED = 3              # a look-alike: at least this many photos named the person


def aligned(bundle, photos: dict) -> dict:
    """{key: (aligned 112 px crop, embedding)} of each photo (key -> BGR image) in which
    the bundle's detector finds a face (the one nearest the centre, as the wild protocol
    takes LFW's labelled face); the embedding is the bundle's thumbnail embedder's, as
    for enrolment and corrections."""
    from edge.align import align_face

    detector, embedder = bundle.detector(2), bundle.thumbnail_embedder(2)
    crops = {}
    for key, image in photos.items():
        h, w = image.shape[:2]
        found = detector.detect(image)
        if found:
            face = min(found, key=lambda f: ((f.box[0] + f.box[2] - w) ** 2
                                             + (f.box[1] + f.box[3] - h) ** 2))
            crops[key] = align_face(image, face.landmarks, 112)
    vectors = embedder.embed(list(crops.values()))
    return {key: (crop, vector) for (key, crop), vector in zip(crops.items(), vectors)}


@pytest.fixture(scope="module")
def orl_faces(bundle):
    return aligned(bundle, {(f"s{p}", k): orl(p, k) for p in range(21, 41) for k in range(1, 11)})


def trials(bundle, faces, enrolled, threshold, folder, rejecting=REJECTED):
    """Each look-alike pair (A enrolled, B whose photos are named A) of a gallery of
    ``enrolled`` (each from their first photo with a face), on its own copy of the
    gallery: B's first ``rejecting`` photos named A kept as sightings and rejected as
    not A; then every photo named again. ``faces``: {(person, photo): (crop, vector)}.
    Returns one dict of counts per pair."""
    base = folder / "base.db"
    firsts = {p: min(k for q, k in faces if q == p) for p in enrolled}
    with Gallery(base) as g, g.batch():
        for p in enrolled:
            g.enrol(p, faces[(p, firsts[p])][1], bundle.sha256, faces[(p, firsts[p])][0])
    probes = [key for key in sorted(faces) if key[0] not in enrolled or key[1] != firsts[key[0]]]
    truth = {key: key[0] if key[0] in enrolled else "unknown" for key in probes}
    vectors = np.stack([faces[key][1] for key in probes])

    def names(path):
        with Matcher(path, bundle.sha256, threshold) as m:
            return {key: m.name if m.name else "unknown"
                    for key, m in zip(probes, m.match_many(vectors))}

    before = names(base)
    pairs = {}
    for (b, k), name in before.items():
        if name not in ("unknown", b):
            pairs.setdefault((name, b), []).append(k)
    found = []
    for n, ((a, b), photos) in enumerate(sorted(pairs.items())):
        if len(photos) < max(MIN_CONFUSED, rejecting + 1):
            continue
        path = shutil.copy(base, folder / f"pair{n}.db")
        rejected = photos[:rejecting]
        with Gallery(path) as g:
            ids = g.sightings.add([NewSighting(time.time(), "test", a, None, None,
                                               faces[(b, k)][1], faces[(b, k)][0])
                                   for k in rejected], bundle.sha256)
            for sid in ids:
                reject(g, sid, a)
        after = names(path)
        others = [key for key in probes if key[0] not in (a, b)]
        b_rest = [key for key in probes if key[0] == b and key[1] not in rejected]
        a_rest = [key for key in probes if key[0] == a]

        def count(keys, name):
            return (sum(before[k] == name for k in keys), sum(after[k] == name for k in keys))
        found.append({
            "pair": (a, b), "b_photos": len(b_rest), "a_photos": len(a_rest),
            "b_as_a": count(b_rest, a), "b_as_b": count(b_rest, b),
            "a_as_a": count(a_rest, a), "others": len(others),
            "others_worse": sum(before[k] == truth[k] != after[k] for k in others),
            "others_better": sum(before[k] != truth[k] == after[k] for k in others)})
    return found


SUMS = ("b_photos", "a_photos", "others", "others_worse", "others_better")


def report(title, found, rows: bool = True) -> dict | None:
    """Print the counts of ``trials`` (each pair's when ``rows``, and all); their sums."""
    if not found:
        print(f"\n{title}: no look-alike pairs")
        return None
    total = {key: tuple(map(sum, zip(*(f[key] for f in found))))
             for key in ("b_as_a", "b_as_b", "a_as_a")}
    total.update({key: sum(f[key] for f in found) for key in SUMS})
    print(f"\n{title}: {len(found)} look-alike pairs (A, B)")
    print(f"  {'A':>18} {'B':>18}   B's others named A  A's others named A  B's named B"
          "  others: worse, better")
    lines = [(*f["pair"], f) for f in found] * rows + [("all", "", total)]
    for a, b, f in lines:
        print(f"  {a[:18]:>18} {b[:18]:>18}   {f['b_as_a'][0]:>4} -> {f['b_as_a'][1]:<3} of "
              f"{f['b_photos']:<4}{f['a_as_a'][0]:>5} -> {f['a_as_a'][1]:<3} of "
              f"{f['a_photos']:<4}{f['b_as_b'][0]:>4} -> {f['b_as_b'][1]:<4}  "
              f"{f['others_worse']:>4}, {f['others_better']} of {f['others']}")
    return total


def check(totals):
    """What a rejection must do, summed over the pairs of each measurement."""
    for t in totals:
        before, after = t["b_as_a"]
        assert after <= 0.25 * before            # the look-alike stops being named A
        assert t["a_as_a"][1] >= t["a_as_a"][0] - max(1, 0.1 * t["a_as_a"][0])  # A stays A
        assert t["others_worse"] <= 0.01 * t["others"]


def test_rejecting_look_alikes_measured_on_orl(bundle, orl_faces, tmp_path):
    """The measurement of the rule (gallery.match), on real faces: ORL's evaluation
    people, the bundle's own embeddings of their aligned crops, one snapshot each.

    Strangers: s21..s30 enrolled, s31..s40 never; at the threshold edge-identify uses
    (the bundle's at 1% of strangers named, for a gallery of 10) and at a looser one
    (x1.15) that names more strangers. Enrolled look-alikes: all 20 enrolled, B's photos
    named A instead of B. In each pair (A, B) where at least 3 of B's photos are named A,
    B's first 2 such photos are kept as sightings and rejected as "not A" (as
    ``edge-gallery reject`` does), on the pair's own copy of the gallery; then every
    other photo is named again: B's others, A's others, and everyone else's (worse: named
    right before, not after; better: the other way). Then the looser threshold again
    with 1 and 3 rejected. Figures printed (pytest -s); with fast, in the README.
    """
    strict, loose = bundle.threshold_for(10), 1.15 * bundle.threshold_for(10)
    half = EVAL[:10]
    runs = [(f"strangers, threshold {strict:.3f} (1% FPIR, gallery of 10), 2 rejected",
             half, strict, REJECTED),
            (f"strangers, threshold {loose:.3f} (x1.15), 2 rejected", half, loose, REJECTED),
            (f"enrolled look-alikes, threshold {bundle.threshold_for(20):.3f} (gallery of 20),"
             " 2 rejected", EVAL, bundle.threshold_for(20), REJECTED),
            (f"strangers, threshold {loose:.3f} (x1.15), 1 rejected", half, loose, 1),
            (f"strangers, threshold {loose:.3f} (x1.15), 3 rejected", half, loose, 3)]
    measured = []
    for i, (title, enrolled, threshold, rejecting) in enumerate(runs):
        folder = tmp_path / str(i)
        folder.mkdir()
        total = report(f"ORL, {BUNDLE}, {title}",
                       trials(bundle, orl_faces, set(enrolled), threshold, folder, rejecting))
        measured += [total] if total else []
    if not measured:
        pytest.skip(f"the {BUNDLE} bundle confuses no ORL evaluation people")
    check(measured)


def test_rejecting_look_alikes_measured_on_lfw(bundle, tmp_path):
    """The same on real photos: LFW's 100 evaluation people (``lfw_eval_people.txt``,
    the wild protocol's), each photo's face nearest the centre. The first 50 enrolled
    from their first photo with a face, the other 50 strangers, at the bundle's threshold
    for a gallery of 50 (1% FPIR) and at a looser one (x1.15) that forces confusions; 2
    of B's photos rejected in each pair (A, B) where at least 3 are named A, B a stranger
    or enrolled. About 20 s with fast."""
    from tests.conftest import need_data

    people = need_data("lfw_eval_people.txt").read_text().split()
    photos = {(p, k): cv2.imread(str(f)) for p in people
              for k, f in enumerate(sorted(need_data("lfw", p).glob("*.jpg")), 1)}
    faces = aligned(bundle, photos)
    enrolled, measured = set(people[:50]), []
    for i, (threshold, how) in enumerate([(bundle.threshold_for(50), "1% FPIR, gallery of 50"),
                                          (1.15 * bundle.threshold_for(50), "x1.15")]):
        folder = tmp_path / str(i)
        folder.mkdir()
        found = trials(bundle, faces, enrolled, threshold, folder)
        for who, pairs in (("strangers", [f for f in found if f["pair"][1] not in enrolled]),
                           ("enrolled look-alikes", [f for f in found
                                                     if f["pair"][1] in enrolled])):
            total = report(f"LFW, {BUNDLE}, {who}, threshold {threshold:.3f} ({how}), "
                           "2 rejected", pairs, rows=False)
            measured += [total] if total else []
    if not measured:
        pytest.skip(f"the {BUNDLE} bundle confuses no LFW evaluation people")
    check(measured)
