"""The web view (edge.web) through Flask's test client, with real faces and the shipped bundle."""
from __future__ import annotations

import io
import re
import socket
import struct
import urllib.error
import urllib.request
import zipfile
import zlib

import cv2
import numpy as np
import pytest

pytest.importorskip("flask")

from tests.conftest import need_data  # noqa: E402
from edge.bundle import BundleError, load_bundle  # noqa: E402
from edge.pipeline import Pipeline  # noqa: E402
from edge.web import create_app  # noqa: E402
from edge.web.live import LiveFeed  # noqa: E402
from edge.web.server import parse_address, start  # noqa: E402
from gallery.match import Matcher  # noqa: E402
from gallery.store import Gallery  # noqa: E402

BUNDLE = "fast"  # the shipped bundle (edge/bundles/fast)
TOKEN = "a-long-enough-test-token-0123456789"


# -- real photos ----------------------------------------------------------------------------

def orl(person: int, photo: int) -> bytes:
    return need_data("orl", f"s{person}", f"{photo}.pgm").read_bytes()


def orl_image(person: int, photo: int) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(orl(person, photo), np.uint8), cv2.IMREAD_COLOR)


def png(image) -> bytes:
    return cv2.imencode(".png", image)[1].tobytes()


def no_face() -> bytes:
    """A real photo without a face: an Omniglot character."""
    with zipfile.ZipFile(need_data("omniglot", "images_background_small1.zip")) as z:
        return z.read(next(n for n in z.namelist() if n.endswith(".png")))


def bomb_png(width=60_000, height=60_000) -> bytes:
    """A PNG of a few hundred bytes whose header says 3.6 gigapixels."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b""))


REFUSED_PHOTOS = {
    "no face": (no_face, "no face found"),
    "two faces": (lambda: png(np.hstack([orl_image(21, 1), orl_image(22, 1)])), "2 faces of similar size found"),
    "too small": (lambda: png(cv2.resize(orl_image(21, 1), None, fx=0.5, fy=0.5,
                                         interpolation=cv2.INTER_AREA)), "face too small"),
    "blurred": (lambda: png(cv2.GaussianBlur(orl_image(21, 1), (0, 0), 3)), "face too blurred"),
    "not an image": (lambda: b"%PDF-1.4 this is not a photo at all", "not a readable image"),
    "empty file": (lambda: b"", "empty"),
}


# -- fixtures -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def bundle():
    try:
        return load_bundle(BUNDLE)
    except BundleError as exc:  # a shipped bundle that does not load is a failure, not a skip
        pytest.fail(f"the shipped bundle {BUNDLE!r} does not load: {exc}", pytrace=False)


@pytest.fixture
def db(tmp_path):
    return tmp_path / "gallery.db"


@pytest.fixture
def client(bundle, db):
    return create_app(bundle, db).test_client()


def csrf(client) -> str:
    return client.get("/api/session").get_json()["csrf_token"]


def upload(data: bytes, name="photo.png"):
    return (io.BytesIO(data), name)


def post(client, url, token=None, **fields):
    """A multipart POST carrying the session's CSRF token (unless ``token=False``)."""
    if token is None:
        token = csrf(client)
    if token:
        fields["csrf_token"] = token
    return client.post(url, data=fields, content_type="multipart/form-data")


def enrol(client, name="Alice", person=21, photo=1):
    return post(client, "/enrol", name=name, photo=upload(orl(person, photo), "a.pgm"))


def people(db):
    with Gallery(db, create=False) as g:
        return [(p.name, len(p.enrolments)) for p in g.people()]


# -- pages ----------------------------------------------------------------------------------

def test_pages_work_without_a_live_source(client):
    for url in ("/", "/enrol", "/gallery", "/identify", "/recent"):
        r = client.get(url)
        assert r.status_code == 200, url
        assert "text/html" in r.content_type
    assert "No live source" in client.get("/").text
    assert client.get("/stream.mjpg").status_code == 404
    assert client.get("/snapshot.jpg").status_code == 404
    assert "No one is enrolled yet" in client.get("/gallery").text
    assert "No sightings yet" in client.get("/recent").text
    assert client.get("/api/sightings").get_json() == {"sightings": []}
    css = client.get("/static/style.css")
    assert css.status_code == 200 and "text/css" in css.content_type


def test_enrol_a_photo_then_see_the_thumbnail_and_identify(client, db):
    r = enrol(client)
    assert r.status_code == 303 and r.headers["Location"].endswith("/gallery")
    page = client.get("/gallery").text
    assert "Enrolled Alice." in page and ">Alice</h2>" in page
    thumb = re.search(r'<img src="(/thumbnails/\d+\.png)"', page).group(1)
    r = client.get(thumb)
    assert r.status_code == 200 and r.content_type == "image/png"
    assert cv2.imdecode(np.frombuffer(r.data, np.uint8), cv2.IMREAD_COLOR).shape == (112, 112, 3)
    assert client.get("/thumbnails/999.png").status_code == 404

    r = post(client, "/identify", photo=upload(orl(21, 1), "probe.pgm"))
    assert r.status_code == 200
    assert re.search(r'<td class="name">Alice</td>', r.text)
    assert re.search(r"<td>0\.\d{3}</td>", r.text)                 # the distance
    assert 'src="data:image/jpeg;base64,' in r.text                 # the photo with boxes
    r = post(client, "/identify", photo=upload(no_face()))
    assert r.status_code == 200 and "No face found in this photo" in r.text
    assert people(db) == [("Alice", 1)]


@pytest.mark.parametrize("case", REFUSED_PHOTOS)
def test_enrol_refuses_what_edge_enroll_refuses(client, db, case):
    make, message = REFUSED_PHOTOS[case]
    r = post(client, "/enrol", name="Bob", photo=upload(make(), "photo.jpg"))
    assert r.status_code == 400
    assert message in r.text and 'class="error"' in r.text
    assert not db.exists()                       # a refused first enrolment writes nothing


@pytest.mark.parametrize("name, message", [("", "empty"), ("   ", "empty"),
                                           ("a\x07b", "control"), ("x" * 65, "64")])
def test_enrol_refuses_bad_names(client, db, name, message):
    r = post(client, "/enrol", name=name, photo=upload(orl(21, 1)))
    assert r.status_code == 400 and message in r.text
    assert not db.exists()


def test_no_gallery_file_until_someone_is_enrolled(client, db):
    """Looking, identifying and refused changes leave no file; the first enrolment makes it."""
    for url in ("/", "/enrol", "/gallery", "/identify", "/recent"):
        assert client.get(url).status_code == 200, url
    assert "No one is enrolled yet" in client.get("/gallery").text
    assert "No sightings yet" in client.get("/recent").text
    assert client.get("/api/sightings").get_json() == {"sightings": []}
    assert client.get("/api/people").get_json() == {"people": []}
    assert client.get("/thumbnails/1.png").status_code == 404
    assert not db.exists()
    r = post(client, "/identify", photo=upload(orl(21, 1), "probe.pgm"))
    assert r.status_code == 200 and '<td class="name">unknown</td>' in r.text
    assert "gallery empty" in r.text and not db.exists()
    head = {"X-CSRF-Token": csrf(client)}
    r = client.post("/api/identify", headers=head, data={"photo": upload(orl(21, 1))},
                    content_type="multipart/form-data")
    assert [(f["name"], f["known"], f["candidates"]) for f in r.get_json()["faces"]] == \
        [("unknown", False, [])]
    r = post(client, "/gallery/append", name="Alice", photo=upload(orl(21, 2)))
    assert r.status_code == 400 and "not enrolled" in r.text
    r = post(client, "/gallery/rename", name="Alice", new_name="Alicia")
    assert r.status_code == 404 and "no one named" in r.text
    r = post(client, "/gallery/rename", name="Alice", new_name="")
    assert r.status_code == 400 and "empty" in r.text
    r = client.post("/api/remove", headers=head, json={"name": "Alice"})
    assert r.status_code == 404 and "no one named 'Alice'" in r.get_json()["error"]
    assert not db.exists()

    assert enrol(client).status_code == 303
    assert people(db) == [("Alice", 1)]


def test_an_existing_empty_gallery_is_used_as_before(client, db):
    Gallery(db).close()
    r = post(client, "/enrol", name="Bob", photo=upload(no_face()))
    assert r.status_code == 400 and people(db) == []
    r = post(client, "/gallery/remove", name="Alice")
    assert r.status_code == 404 and "no one named" in r.text
    r = post(client, "/identify", photo=upload(orl(21, 1), "probe.pgm"))
    assert r.status_code == 200 and '<td class="name">unknown</td>' in r.text
    assert enrol(client).status_code == 303 and people(db) == [("Alice", 1)]


def test_duplicate_name_is_refused(client, db):
    enrol(client)
    r = enrol(client, person=22)
    assert r.status_code == 409 and "already enrolled" in r.text
    assert people(db) == [("Alice", 1)]


def test_no_photo_chosen(client):
    r = client.post("/enrol", data={"csrf_token": csrf(client), "name": "Bob"})
    assert r.status_code == 400 and "no photo was uploaded" in r.text


def test_names_are_escaped_everywhere(client):
    evil = '<script>alert("x")</script>'
    assert enrol(client, name=evil).status_code == 303
    for page in (client.get("/gallery").text,
                 post(client, "/identify", photo=upload(orl(21, 1))).text):
        assert evil not in page
        assert "&lt;script&gt;alert(" in page
    assert client.get("/api/people").get_json()["people"][0]["name"] == evil


def test_rename_append_remove(client, db):
    enrol(client)
    r = post(client, "/gallery/append", name="Alice", photo=upload(orl(21, 2)))
    assert r.status_code == 303 and people(db) == [("Alice", 2)]
    assert "Added a snapshot to Alice." in client.get("/gallery").text
    r = post(client, "/gallery/append", name="Nobody", photo=upload(orl(21, 2)))
    assert r.status_code == 400 and "not enrolled" in r.text

    assert post(client, "/gallery/rename", name="Alice", new_name="Alicia").status_code == 303
    assert people(db) == [("Alicia", 2)]
    enrol(client, name="Bob", person=22)
    r = post(client, "/gallery/rename", name="Bob", new_name="Alicia")
    assert r.status_code == 409 and "already enrolled" in r.text
    r = post(client, "/gallery/rename", name="Zed", new_name="Zoe")
    assert r.status_code == 404 and "no one named" in r.text

    assert post(client, "/gallery/remove", name="Alicia").status_code == 303
    assert "Removed Alicia (2 snapshots)." in client.get("/gallery").text
    assert people(db) == [("Bob", 1)]


# -- refusals: methods, CSRF, sizes, hosts ----------------------------------------------------

CHANGES = ["/enrol", "/gallery/append", "/gallery/rename", "/gallery/remove",
           "/recent/assign", "/recent/reject",
           "/api/enrol", "/api/rename", "/api/remove", "/api/identify",
           "/api/assign", "/api/reject"]


@pytest.mark.parametrize("url", CHANGES)
def test_changes_are_post_only(client, url):
    r = client.get(url) if url not in ("/enrol",) else client.put(url)
    assert r.status_code == 405
    assert "POST" in r.headers["Allow"]


@pytest.mark.parametrize("url", CHANGES + ["/identify"])
def test_csrf_token_missing_or_wrong(client, db, url):
    csrf(client)  # the session has a token; the requests below do not send it
    r = post(client, url, token=False, name="Alice", photo=upload(orl(21, 1)))
    assert r.status_code == 400 and "missing CSRF token" in r.text
    r = post(client, url, token="forged", name="Alice", photo=upload(orl(21, 1)))
    assert r.status_code == 403 and "wrong CSRF token" in r.text
    r = client.post(url, headers={"X-CSRF-Token": "forged"}, data={"name": "Alice"})
    assert r.status_code == 403
    assert not db.exists()


def test_csrf_token_belongs_to_its_session(bundle, db):
    app = create_app(bundle, db)
    one, other = app.test_client(), app.test_client()
    r = post(other, "/enrol", token=csrf(one), name="Alice", photo=upload(orl(21, 1)))
    assert r.status_code == 403 and not db.exists()


def test_oversize_upload_is_413(bundle, db):
    c = create_app(bundle, db, max_upload_bytes=20_000).test_client()
    big = png(cv2.resize(orl_image(21, 1), (400, 480)))
    assert len(big) > 20_000
    r = post(c, "/enrol", name="Alice", photo=upload(big))
    assert r.status_code == 413 and "too large (at most" in r.text
    r = post(c, "/api/identify", photo=upload(big))
    assert r.status_code == 413 and "too large" in r.get_json()["error"]
    assert not db.exists()


def test_pixel_cap_is_checked_before_decoding(bundle, db):
    c = create_app(bundle, db, max_pixels=100 * 100).test_client()
    r = post(c, "/enrol", name="Alice", photo=upload(orl(21, 1)))   # 92 x 112 > 100 x 100
    assert r.status_code == 400 and "92x112 pixels" in r.text
    c = create_app(bundle, db).test_client()
    bomb = bomb_png()
    assert len(bomb) < 1000
    r = post(c, "/api/identify", photo=upload(bomb, "innocent.png"))
    assert r.status_code == 400 and "too large" in r.get_json()["error"]


def test_only_loopback_host_names_without_a_token(client):
    assert client.get("/", headers={"Host": "127.0.0.1:8000"}).status_code == 200
    r = client.get("/api/people", headers={"Host": "evil.example:8000"})
    assert r.status_code == 400 and "only to localhost" in r.get_json()["error"]


def test_security_headers(client):
    r = client.get("/gallery")
    assert "script-src 'self'" in r.headers["Content-Security-Policy"]
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["X-Frame-Options"] == "DENY"
    assert r.headers["Cache-Control"] == "no-store"
    cookie = r.headers.get("Set-Cookie") or client.get("/enrol").headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie


# -- the access token -------------------------------------------------------------------------

@pytest.fixture
def locked(bundle, db):
    return create_app(bundle, db, token=TOKEN).test_client()


@pytest.mark.parametrize("url", ["/", "/enrol", "/gallery", "/identify", "/thumbnails/1.png",
                                 "/snapshot.jpg", "/api/session", "/api/people", "/api/latest"])
def test_no_token_no_access(locked, url):
    r = locked.get(url)
    assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")
    assert locked.get(url, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert locked.get(url + "?token=wrong").status_code == 401


def test_changes_need_the_token_too(locked, db):
    r = locked.post("/api/enrol", data={"name": "Alice", "photo": upload(orl(21, 1))},
                    content_type="multipart/form-data")
    assert r.status_code == 401 and not db.exists()
    assert locked.get("/static/style.css").status_code == 200   # only the style sheet is open


def test_token_in_the_address_signs_the_browser_in(locked, db):
    r = locked.get(f"/gallery?token={TOKEN}&x=1")
    assert r.status_code == 200 and TOKEN not in r.text
    assert 'http-equiv="refresh" content="0; url=/gallery?x=1"' in r.text
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert locked.get("/gallery").status_code == 200               # the cookie now suffices
    assert enrol(locked).status_code == 303                       # with the CSRF token
    assert post(locked, "/gallery/remove", token=False, name="Alice").status_code == 400
    assert people(db) == [("Alice", 1)]


def test_sign_in_never_redirects_off_site(locked):
    r = locked.get("/", environ_overrides={"PATH_INFO": "//evil.example/x"},
                   query_string={"token": TOKEN})
    assert "url=/evil.example/x" in r.text


def test_bearer_header_works_without_csrf(locked, db):
    auth = {"Authorization": f"Bearer {TOKEN}"}
    r = locked.post("/api/enrol", headers=auth, content_type="multipart/form-data",
                    data={"name": "Alice", "photo": upload(orl(21, 1))})
    assert r.status_code == 201, r.get_json()
    assert locked.get("/api/people", headers=auth).get_json()["people"][0]["name"] == "Alice"
    assert locked.get("/api/people").status_code == 401            # a header is not a cookie


# -- the JSON API -----------------------------------------------------------------------------

def test_api_round_trip(client, db, bundle):
    s = client.get("/api/session").get_json()
    assert s["live"] is False and s["threshold"] == pytest.approx(bundle.threshold)
    head = {"X-CSRF-Token": s["csrf_token"]}
    assert client.get("/api/people").get_json() == {"people": []}

    def api(url, **data):
        return client.post(url, headers=head, data=data, content_type="multipart/form-data")

    r = api("/api/enrol", name="Alice", photo=upload(orl(21, 1)))
    assert r.status_code == 201 and r.get_json()["name"] == "Alice"
    r = api("/api/enrol", name="Bob", photo=upload(orl(22, 1)))
    assert r.status_code == 201
    r = api("/api/enrol", name="Alice", append="1", photo=upload(orl(21, 2)))
    assert r.status_code == 201 and r.get_json()["appended"] is True
    listed = client.get("/api/people").get_json()["people"]
    assert [(p["name"], len(p["enrolments"])) for p in listed] == [("Alice", 2), ("Bob", 1)]
    assert client.get(listed[0]["enrolments"][0]["thumbnail"]).content_type == "image/png"

    r = api("/api/identify", photo=upload(orl(21, 1)))
    faces = r.get_json()["faces"]
    assert r.status_code == 200 and len(faces) == 1
    f = faces[0]
    assert f["name"] == "Alice" and f["known"] and 0 <= f["distance"] <= bundle.threshold
    assert [c["name"] for c in f["candidates"]][:2] == ["Alice", "Bob"]
    x1, y1, x2, y2 = f["box"]
    assert 0 <= x1 < x2 <= 92 and 0 <= y1 < y2 <= 112

    r = api("/api/enrol", name="Alice", photo=upload(orl(23, 1)))
    assert r.status_code == 409 and "already enrolled" in r.get_json()["error"]
    r = api("/api/enrol", name="Carol", photo=upload(no_face()))
    assert r.status_code == 400 and r.get_json() == {"error": "no face found"}
    r = client.post("/api/rename", headers=head, json={"name": "Bob", "new_name": "Robert"})
    assert r.get_json() == {"name": "Robert"}
    r = client.post("/api/remove", headers=head, json={"name": "Nobody"})
    assert r.status_code == 404 and "no one named" in r.get_json()["error"]
    r = client.post("/api/remove", headers=head, json={"name": "Alice"})
    assert r.get_json() == {"removed": "Alice", "embeddings": 2}
    assert people(db) == [("Robert", 1)]
    assert client.get("/api/latest").get_json() == {"live": False, "frame": None, "recent": []}


# -- the live view ----------------------------------------------------------------------------

def test_live_view_stream_latest_and_snapshot_enrolment(bundle, db):
    with Gallery(db):
        pass
    matcher = Matcher(db, bundle.sha256, bundle.threshold)
    ident = Pipeline(bundle, matcher, threads=1, every=1)
    feed = LiveFeed()
    c = create_app(bundle, db, pipeline=ident, live=feed).test_client()
    assert 'id="stream"' in c.get("/").text
    r = post(c, "/enrol", source="live", name="Alice")
    assert r.status_code == 400 and "no frame from the live source yet" in r.text

    frame = orl_image(21, 1)
    feed.publish(frame, ident.process(frame))
    assert post(c, "/enrol", source="live", name="Alice").status_code == 303
    assert people(db) == [("Alice", 1)]
    with Gallery(db) as g:
        assert g.person("Alice").enrolments[0].source == "web snapshot"

    feed.publish(frame, ident.process(frame))         # the loop's matcher sees Alice now
    latest = c.get("/api/latest").get_json()
    assert latest["live"] and latest["frame"]["faces"][0]["name"] == "Alice"
    assert latest["recent"][0]["name"] == "Alice"
    assert "Alice" in c.get("/").text
    snap = c.get("/snapshot.jpg")
    assert snap.content_type == "image/jpeg"
    assert cv2.imdecode(np.frombuffer(snap.data, np.uint8), cv2.IMREAD_COLOR).shape == frame.shape

    r = c.get("/stream.mjpg", buffered=False)
    assert r.mimetype == "multipart/x-mixed-replace"
    first = next(r.response)
    assert first.startswith(b"--frame\r\nContent-Type: image/jpeg\r\n")
    r.close()
    feed.close()
    matcher.close()


# -- the recent sightings and their corrections -------------------------------------------------

def sightings_of(bundle, db, *people):
    """Run the identify loop, with its sightings output, over a scene of ORL ``people``
    (person, photo) side by side until each face has settled; their sighting ids."""
    from edge.sightings import SightingsOutput
    from tests.test_tracking import face, frame

    out = SightingsOutput(db, bundle.sha256, "porch")
    with Matcher(db, bundle.sha256, bundle.threshold) as matcher:
        ident = Pipeline(bundle, matcher, threads=1, every=1)
        ids = []
        for _ in range(4):
            scene = frame(*[(face(p, k), 40 + 300 * i, 150) for i, (p, k) in enumerate(people)])
            ids += out.publish(ident.process(scene))
    out.close()
    return ids


def test_recent_sightings_are_shown_and_corrected(client, db, bundle):
    assert enrol(client).status_code == 303                   # Alice: ORL s21, photo 1
    ids = sightings_of(bundle, db, (21, 2), (22, 1))         # Alice, and a stranger
    with Gallery(db) as g:
        seen = {s.name: s for s in g.sightings.list()}
    assert set(seen) == {None, "Alice"} and sorted(ids) == sorted(s.id for s in seen.values())
    alice, stranger = seen["Alice"], seen[None]

    page = client.get("/recent").text
    for s in (alice, stranger):
        assert f'src="/sightings/{s.id}.png"' in page and f"#{s.id}" in page
    assert page.index(f"#{max(ids)}") < page.index(f"#{min(ids)}")   # newest first
    assert page.count('<button class="danger">Not ') == 1 and ">Not Alice<" in page and "porch" in page
    assert "Only unknown faces" in page and f"#{alice.id}" not in client.get("/recent?unknown=1").text
    thumb = client.get(f"/sightings/{stranger.id}.png")
    assert thumb.content_type == "image/png"
    assert cv2.imdecode(np.frombuffer(thumb.data, np.uint8), cv2.IMREAD_COLOR).shape == (112, 112, 3)
    for missing in (999, 0, 2**63):
        assert client.get(f"/sightings/{missing}.png").status_code == 404

    r = post(client, "/recent/assign", sighting=stranger.id, name="Bob")
    assert r.status_code == 303 and r.headers["Location"].endswith("/recent")
    assert f"Sighting {stranger.id} is Bob: faces like it are named Bob from now on." in \
        client.get("/recent").text
    assert people(db) == [("Alice", 1), ("Bob", 1)]
    r = post(client, "/recent/reject", sighting=alice.id, name="Alice")
    assert r.status_code == 303
    assert f"Sighting {alice.id} is not Alice" in client.get("/recent").text
    with Gallery(db) as g, Matcher(db, bundle.sha256, bundle.threshold) as m:
        assert [(r.name, r.sighting) for r in g.rejections.list()] == [("Alice", alice.id)]
        vector, _ = g.sightings.face(stranger.id)
        assert m.match(vector).name == "Bob"
        assert m.match(g.sightings.face(alice.id)[0]).refused == ("Alice",)

    for url, fields, status, message in (
            ("/recent/assign", {"sighting": "999", "name": "Cy"}, 404, "no sighting 999 in gallery.db"),
            ("/recent/assign", {"sighting": "abc", "name": "Cy"}, 404, "is not a sighting id"),
            ("/recent/assign", {"sighting": str(stranger.id), "name": " "}, 400, "cannot be empty"),
            ("/recent/reject", {"sighting": str(stranger.id), "name": "Nobody"}, 404, "no one named")):
        r = post(client, url, **fields)
        assert r.status_code == status and message in r.text, (url, fields, r.text)
        assert str(db.parent) not in r.text
    assert people(db) == [("Alice", 1), ("Bob", 1)]


def test_sightings_api(client, db, bundle):
    assert enrol(client).status_code == 303
    sightings_of(bundle, db, (21, 2), (22, 1))
    head = {"X-CSRF-Token": csrf(client)}
    listed = client.get("/api/sightings").get_json()["sightings"]
    assert sorted(s["name"] for s in listed) == ["Alice", "unknown"]
    assert set(listed[0]) >= {"id", "time", "timestamp", "camera", "name", "known", "distance",
                              "margin", "thumbnail"}
    [stranger] = client.get("/api/sightings?unknown=1&since=1h&limit=5").get_json()["sightings"]
    assert client.get("/api/sightings?since=2999-01-01").get_json() == {"sightings": []}
    r = client.get("/api/sightings?since=tomorrow")
    assert r.status_code == 400 and "cannot read 'tomorrow' as a time" in r.get_json()["error"]
    r = client.post("/api/assign", headers=head, json={"sighting": stranger["id"], "name": "Bob"})
    assert r.status_code == 201 and r.get_json() == {
        "sighting": stranger["id"], "name": "Bob", "enrolment": 2, "reembedded": False}
    r = client.post("/api/reject", headers=head, json={"sighting": stranger["id"], "name": "alice"})
    assert r.status_code == 201 and r.get_json()["name"] == "Alice" and r.get_json()["rejection"] == 1
    r = client.post("/api/reject", headers=head, json={"sighting": 12345, "name": "Alice"})
    assert r.status_code == 404 and "no sighting 12345" in r.get_json()["error"]


def test_corrections_without_a_gallery_file(client, db):
    r = post(client, "/recent/assign", sighting="1", name="Bob")
    assert r.status_code == 404 and "none is kept yet" in r.text and not db.exists()


# -- serving ----------------------------------------------------------------------------------

def test_parse_address():
    assert parse_address("8000") == ("127.0.0.1", 8000)
    assert parse_address("0.0.0.0:8080") == ("0.0.0.0", 8080)
    assert parse_address("[::1]:9000") == ("::1", 9000)
    for bad in ("", "http", "host:99999", "1.2.3.4:"):
        with pytest.raises(ValueError):
            parse_address(bad)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_start_on_another_address_makes_and_keeps_a_token(bundle, db, capsys):
    port = free_port()
    web = start(f"0.0.0.0:{port}", None, bundle, db, None)
    try:
        token_file = db.parent / "web-token"
        token = token_file.read_text().strip()
        assert len(token) >= 32 and token_file.stat().st_mode & 0o077 == 0
        assert f"?token={token}" in capsys.readouterr().err
        url = f"http://127.0.0.1:{port}/api/people"
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url, timeout=10)
        assert refused.value.code == 401
        req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(req, timeout=10) as r:
            assert r.status == 200
    finally:
        web.close()
    port = free_port()
    web = start(f"0.0.0.0:{port}", None, bundle, db, None)     # the same token, not reprinted
    web.close()
    assert token_file.read_text().strip() == token and token not in capsys.readouterr().err


def test_start_refuses_bad_addresses_and_short_tokens(bundle, db):
    import click

    with pytest.raises(click.ClickException, match="expected \\[HOST:\\]PORT"):
        start("nonsense", None, bundle, db, None)
    with pytest.raises(click.ClickException, match="at least 16"):
        start("0.0.0.0:8000", "short", bundle, db, None)
