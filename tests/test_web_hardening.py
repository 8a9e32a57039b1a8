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

import numpy as np
import pytest

pytest.importorskip("flask")
pytest.importorskip("waitress")

from edge.pipeline import FrameResult  # noqa: E402
from edge.web.server import WORKERS, start  # noqa: E402
from tests.test_web import (bundle, client, db, enrol, free_port)  # noqa: E402,F401


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

