"""The web view under hostile use: many clients and stream viewers against the real
server, ids out of range, server paths, foreign origins, token guessing, and the token
kept off the command line."""
from __future__ import annotations

import http.client
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import click
import numpy as np
import pytest
from click.testing import CliRunner

pytest.importorskip("flask")
pytest.importorskip("waitress")

from edge.pipeline import FrameResult  # noqa: E402
from edge.web import create_app  # noqa: E402
from edge.web.server import WORKERS, start  # noqa: E402
from edge.web.throttle import FREE, Throttle, blocked_for  # noqa: E402
from tests.test_web import (TOKEN, bundle, client, csrf, db, enrol, free_port,  # noqa: E402,F401
                            locked, orl, people, post, upload)


# -- a bounded server: many clients, streams that do not starve it ----------------------------

def get(port, path, timeout=30, **headers):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


@pytest.fixture
def served(bundle, db):
    """(port, feed) of the web view with a source publishing a frame every 50 ms."""
    source = SimpleNamespace(matcher=SimpleNamespace(rule=None, threshold=bundle.threshold))
    port, stop = free_port(), threading.Event()
    web = start(f"127.0.0.1:{port}", None, bundle, db, source)
    frame = np.full((240, 320, 3), 90, np.uint8)

    def publish():
        i = 0
        while not stop.wait(0.05):
            i += 1
            web.publish(frame, FrameResult(i, time.time(), False))

    thread = threading.Thread(target=publish, daemon=True)
    thread.start()
    yield port, web
    stop.set()
    thread.join(5)
    web.close()


def open_stream(port):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/stream.mjpg")
    return conn, conn.getresponse()


def test_many_clients_one_bounded_pool(served):
    port, _ = served
    before = {t.name for t in threading.enumerate()}
    with ThreadPoolExecutor(64) as pool:
        answers = list(pool.map(lambda i: get(port, ["/", "/api/people", "/gallery"][i % 3]),
                                range(600)))
    assert [s for s, _ in answers] == [200] * 600
    workers = [t for t in threading.enumerate() if t.name.startswith("waitress-")]
    assert len(workers) == WORKERS
    assert len({t.name for t in threading.enumerate()} - before) <= WORKERS


def test_streams_are_bounded_and_do_not_starve_the_pool(served):
    from edge.web.app import MAX_VIEWERS

    port, _ = served
    viewers = [open_stream(port) for _ in range(MAX_VIEWERS)]
    for conn, r in viewers:
        assert r.status == 200 and r.getheader("Content-Type").startswith(
            "multipart/x-mixed-replace")
        assert r.read(9) == b"--frame\r\n"
    status, body = get(port, "/stream.mjpg")
    assert status == 503 and b"try again" in body
    t0 = time.monotonic()
    assert [get(port, "/api/people")[0] for _ in range(20)] == [200] * 20   # the pool is free
    assert time.monotonic() - t0 < 10

    viewers.pop()[0].close()                   # a viewer leaves: their place frees soon
    deadline = time.monotonic() + 20
    while True:
        conn, r = open_stream(port)
        if r.status == 200:
            break
        conn.close()
        assert time.monotonic() < deadline, "the stream's place was not freed"
        time.sleep(0.2)
    assert r.read(9) == b"--frame\r\n"
    conn.close()
    for conn, _ in viewers:
        conn.close()


def test_close_ends_streams_and_frees_the_port(bundle, db):
    source = SimpleNamespace(matcher=SimpleNamespace(rule=None, threshold=bundle.threshold))
    port = free_port()
    web = start(f"127.0.0.1:{port}", None, bundle, db, source)
    web.publish(np.zeros((120, 160, 3), np.uint8), FrameResult(1, time.time(), False))
    conn, r = open_stream(port)
    assert r.status == 200 and r.read(9) == b"--frame\r\n"
    t0 = time.monotonic()
    web.close()
    assert time.monotonic() - t0 < 10 and not web.thread.is_alive()
    assert not [t for t in threading.enumerate() if t.name.startswith("waitress-")]
    conn.close()
    web = start(f"127.0.0.1:{port}", None, bundle, db, None)    # the port is free again
    web.close()


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads /proc")
def test_load_benchmark_runs_small(tmp_path):
    """benchmarks/web_load.py end to end with a few hundred requests."""
    from benchmarks import web_load

    result = web_load.run(requests=400, concurrency=400, identify=4, bundle="fast")
    assert result["failures"] == 0 and result["requests"] == 400
    assert 0 < result["baseline_mb"] <= result["peak_mb"] < web_load.TARGET_MB


# -- thumbnails: ids out of SQLite's range are 404, not 500 -----------------------------------

MAX_ID = 2**63 - 1   # SQLite's largest row id


@pytest.mark.parametrize("enrolment", ["0", "-1", str(MAX_ID), str(MAX_ID + 1), "9" * 40, "1e3"])
def test_thumbnail_ids_out_of_range_are_404(client, enrolment):
    assert enrol(client).status_code == 303
    r = client.get(f"/thumbnails/{enrolment}.png")
    assert r.status_code == 404, r.text
    assert client.get("/thumbnails/1.png").status_code == 200


# -- no server path in any answer -------------------------------------------------------------

def test_no_server_paths_in_error_answers(bundle, db, tmp_path, monkeypatch):
    c = create_app(bundle, db).test_client()
    head = {"X-CSRF-Token": csrf(c)}
    answers = []

    def keep(r, status):
        assert r.status_code == status, (r.request.path, r.text)
        answers.append(r.get_data(as_text=True))
        return answers[-1]

    # no gallery file yet
    page = keep(post(c, "/gallery/rename", name="Al", new_name="B"), 404)
    assert "in gallery.db (no one is enrolled yet)" in page
    keep(post(c, "/gallery/remove", name="Al"), 404)
    keep(c.post("/api/remove", headers=head, json={"name": "Al"}), 404)
    keep(c.post("/api/rename", headers=head, json={"name": "Al", "new_name": "B"}), 404)
    # someone enrolled
    assert enrol(c).status_code == 303
    keep(post(c, "/gallery/remove", name="Nobody"), 404)
    keep(c.post("/api/remove", headers=head, json={"name": "Nobody"}), 404)
    keep(enrol(c), 409)
    keep(c.get("/thumbnails/99.png"), 404)
    keep(c.get("/no/such/page"), 404)
    keep(c.get("/api/no/such/thing"), 404)
    # a damaged gallery file: every route says so, naming the file alone
    db.write_bytes(b"this is not an SQLite database at all " * 200)
    page = keep(c.get("/gallery"), 400)
    assert "gallery.db is not a readable gallery" in page
    keep(c.get("/api/people"), 400)
    keep(c.get("/thumbnails/1.png"), 404)
    keep(c.post("/api/identify", headers=head, data={"photo": upload(orl(21, 1))},
                content_type="multipart/form-data"), 400)
    keep(post(c, "/enrol", name="Bob", photo=upload(orl(22, 1))), 400)
    # an unexpected failure that names a path: a plain 500 page
    from edge.web.operations import Operations

    def broken(self):
        raise RuntimeError(f"cannot read {db}")
    monkeypatch.setattr(Operations, "people", broken)
    keep(c.get("/gallery"), 500)
    keep(c.get("/api/people"), 500)

    for text in answers:
        for secret in {str(tmp_path), str(tmp_path.resolve()), "/tmp/"}:
            assert secret not in text


# -- changes from another site: 403 -----------------------------------------------------------

FOREIGN = [{"Origin": "http://evil.example"}, {"Origin": "null"},
           {"Origin": "http://localhost:8001"}, {"Origin": "https://evil.example"},
           {"Referer": "http://evil.example/page.html"}, {"Origin": "ftp://localhost"}]


@pytest.mark.parametrize("headers", FOREIGN)
def test_changes_from_another_site_are_refused(client, db, headers):
    token = csrf(client)
    r = client.post("/enrol", headers=headers, content_type="multipart/form-data",
                    data={"csrf_token": token, "name": "Alice", "photo": upload(orl(21, 1))})
    assert r.status_code == 403 and "another site" in r.text
    r = client.post("/api/enrol", headers={**headers, "X-CSRF-Token": token},
                    data={"name": "Alice", "photo": upload(orl(21, 1))})
    assert r.status_code == 403 and "another site" in r.get_json()["error"]
    for method in (client.put, client.delete, client.patch):
        assert method("/api/people", headers=headers).status_code == 403
    assert not db.exists()
    assert client.get("/gallery", headers=headers).status_code == 200   # reads are not changes


def test_own_pages_let_the_browser_send_their_origin(client):
    # "no-referrer" would make a browser send "Origin: null" with the pages' own forms
    assert client.get("/enrol").headers["Referrer-Policy"] == "same-origin"


@pytest.mark.parametrize("headers", [{}, {"Origin": "http://localhost"},
                                     {"Origin": "https://localhost"},
                                     {"Referer": "http://localhost/enrol"}])
def test_changes_from_this_site_or_no_site_go_on(client, db, headers):
    r = client.post("/enrol", headers=headers, content_type="multipart/form-data",
                    data={"csrf_token": csrf(client), "name": "Alice",
                          "photo": upload(orl(21, 1))})
    assert r.status_code == 303 and people(db) == [("Alice", 1)]


def test_origin_is_checked_with_the_bearer_token_too(locked, db):
    auth = {"Authorization": f"Bearer {TOKEN}"}
    photo = {"name": "Alice", "photo": upload(orl(21, 1))}
    r = locked.post("/api/enrol", headers={**auth, "Origin": "http://evil.example"}, data=photo)
    assert r.status_code == 403 and not db.exists()
    r = locked.post("/api/enrol", headers=auth, data={"name": "Alice", "photo": upload(orl(21, 1))})
    assert r.status_code == 201


# -- wrong tokens back off --------------------------------------------------------------------

def test_wrong_tokens_back_off_then_the_right_one_works(locked):
    throttle = locked.application.extensions["edge.throttle"]
    now = [1000.0]
    throttle.clock = lambda: now[0]
    wrong, right = ({"Authorization": f"Bearer {t}"} for t in ("wrong-token", TOKEN))
    for _ in range(FREE + 1):
        assert locked.get("/api/people", headers=wrong).status_code == 401
    r = locked.get("/api/people", headers=right)            # blocked: not even compared
    assert r.status_code == 429 and r.headers["Retry-After"] == "1"
    assert "too many wrong tokens" in r.get_json()["error"]
    assert locked.get(f"/gallery?token={TOKEN}").status_code == 429
    other = {"REMOTE_ADDR": "192.0.2.7"}                    # another address is not blocked
    assert locked.get("/api/people", headers=right, environ_overrides=other).status_code == 200

    now[0] += 1.5
    assert locked.get("/api/people", headers=wrong).status_code == 401   # 7th: 2 s
    now[0] += 1.0
    assert locked.get("/api/people", headers=right).status_code == 429
    now[0] += 1.5
    assert locked.get("/api/people", headers=right).status_code == 200
    assert len(throttle) == 0                               # a right token forgets the address
    assert locked.get("/api/people", headers=wrong).status_code == 401


def test_throttle_memory_is_bounded_and_ipv6_counts_by_network():
    t = Throttle(clock=lambda: 0.0, max_addresses=100)
    for i in range(5000):
        t.failed(f"10.{i // 65536}.{i // 256 % 256}.{i % 256}")
    assert len(t) == 100
    for i in range(FREE + 1):
        t.failed(f"2001:db8::{i + 1:x}")                    # one /64: one client
    assert t.wait("2001:db8::ffff") == blocked_for(FREE + 1) == 1.0
    assert t.wait("2001:db8:0:1::1") == 0
    assert blocked_for(FREE) == 0 and blocked_for(100) == 300


# -- the token from a file, not the command line ----------------------------------------------

def test_token_file(bundle, db, tmp_path):
    path = tmp_path / "edge-token"
    path.write_text(TOKEN + "\n")
    port = free_port()
    web = start(f"0.0.0.0:{port}", None, bundle, db, None, token_file=path)
    try:
        assert get(port, "/api/people")[0] == 401
        assert get(port, "/api/people", Authorization=f"Bearer {TOKEN}")[0] == 200
    finally:
        web.close()
    assert not (db.parent / "web-token").exists()
    with pytest.raises(click.ClickException, match="no such file"):
        start(f"0.0.0.0:{port}", None, bundle, db, None, token_file=tmp_path / "missing")
    path.write_text("short\n")
    with pytest.raises(click.ClickException, match="--token-file .*at least 16"):
        start(f"0.0.0.0:{port}", None, bundle, db, None, token_file=path)


def test_edge_identify_token_options(tmp_path):
    from edge.cli_identify import main

    photo = tmp_path / "face.pgm"
    photo.write_bytes(orl(21, 1))
    args = ["--images", str(photo), "--gallery", str(tmp_path / "g.db"), "--bundle", "fast",
            "--serve", f"127.0.0.1:{free_port()}"]
    r = CliRunner().invoke(main, args + ["--token", TOKEN, "--token-file", str(photo)])
    assert r.exit_code == 1 and "either --token or --token-file" in r.output
    r = CliRunner().invoke(main, args + ["--token-file", str(tmp_path / "missing")],
                           env={"EDGE_TOKEN": TOKEN})               # the file wins
    assert r.exit_code == 1 and "--token-file" in r.output and "no such file" in r.output
    assert "visible to every user" in CliRunner().invoke(main, ["--help"]).output
