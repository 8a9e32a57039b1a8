"""Peak memory of the web view's server under thousands of concurrent requests.

    .venv/bin/python -m benchmarks.web_load                      # 5,000 requests at once
    .venv/bin/python -m benchmarks.web_load --server threaded    # werkzeug, a thread each

Enrols two ORL people (s21, s22) in a temporary gallery, then starts the server in a
child process as ``edge-identify --serve`` does (``edge.web.start``, the shipped bundle
``accurate``, no camera) on 127.0.0.1. Warm-up: every route once and one identification,
so the web's models are loaded; the child's resident memory (VmRSS) then is the
baseline. The run: all requests opened at once from one asyncio client (raw HTTP/1.1,
``Connection: close``): the pages, ``/api/people``, ``/api/session``, ``/api/latest``,
both thumbnails, the style sheet, and ``--identify`` photo identifications
(``orl/s1/1.pgm`` to ``/api/identify``). Prints the child's peak resident memory
(VmHWM from /proc) against the target (250 MB), its threads, the failures (an answer
other than 200, or none) and the latency (min / mean / p50 / p95 / max).

``--server threaded`` serves the same app with werkzeug's thread-per-request server,
which edge.web used before: the figure the pool is measured against.
"""
from __future__ import annotations

import asyncio
import json
import os
import re
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import click
import numpy as np

TARGET_MB = 250
ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("SIAMESE_EDGE_DATA", ROOT.parent / "shared" / "data"))
READS = ["/", "/gallery", "/enrol", "/identify", "/api/people", "/api/session", "/api/latest",
         "/thumbnails/1.png", "/thumbnails/2.png", "/static/style.css"]


# -- the server, in a child process -----------------------------------------------------------

def serve(port: int, gallery: str, bundle: str, server: str) -> None:
    """Serve the web view until killed (the child's side)."""
    from edge.bundle import load_bundle

    b = load_bundle(bundle)
    if server == "pool":
        from edge.web import start

        start(f"127.0.0.1:{port}", None, b, gallery, None)
    else:
        import threading

        from werkzeug.serving import make_server

        from edge.web import create_app

        app = create_app(b, gallery)
        threading.Thread(target=make_server("127.0.0.1", port, app, threaded=True).serve_forever,
                         daemon=True).start()
    print("ready", flush=True)
    sys.stdin.read()          # until the parent closes it


def status_of(pid: int) -> dict[str, int]:
    """VmRSS, VmHWM (kB) and Threads of process ``pid``."""
    text = Path(f"/proc/{pid}/status").read_text()
    return {k: int(re.search(rf"^{k}:\s+(\d+)", text, re.M).group(1))
            for k in ("VmRSS", "VmHWM", "Threads")}


# -- the client ---------------------------------------------------------------------------------

async def fetch(port: int, method: str, path: str, body: bytes = b"", headers: str = "",
                timeout: float = 600) -> tuple[int, bytes, float]:
    """(status, whole answer, seconds) of one request on its own connection; status 0 when
    there was no answer."""
    t0 = time.perf_counter()
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
        writer.write(f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n"
                     f"Content-Length: {len(body)}\r\n{headers}\r\n".encode() + body)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), timeout)
        writer.close()
        status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/") else 0
    except (OSError, asyncio.TimeoutError, ValueError, IndexError):
        status, answer = 0, b""
    return status, answer, time.perf_counter() - t0


def identify_request(photo: bytes, cookie: str, csrf: str) -> tuple[bytes, str]:
    boundary = "edgeloadboundary"
    body = (f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="photo"; filename="1.pgm"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n").encode() + photo + \
        f"\r\n--{boundary}--\r\n".encode()
    headers = (f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
               f"Cookie: {cookie}\r\nX-CSRF-Token: {csrf}\r\n")
    return body, headers


async def session(port: int) -> tuple[str, str]:
    """(cookie, CSRF token) of a new session."""
    status, answer, _ = await fetch(port, "GET", "/api/session")
    head, _, body = answer.partition(b"\r\n\r\n")
    cookie = re.search(rb"Set-Cookie: ([^;]+)", head, re.I).group(1).decode()
    return cookie, json.loads(body)["csrf_token"]


async def load(port: int, requests: int, concurrency: int, identify: int, photo: bytes):
    """[(status, seconds)] of ``requests`` requests, at most ``concurrency`` at once."""
    cookie, csrf = await session(port)
    body, headers = identify_request(photo, cookie, csrf)
    every = max(1, requests // identify) if identify else 0
    gate = asyncio.Semaphore(concurrency)

    async def one(i):
        async with gate:
            if every and i % every == 0 and i // every < identify:
                status, answer, s = await fetch(port, "POST", "/api/identify", body, headers)
                if status == 200 and b'"faces"' not in answer:
                    status = -1
                return status, s
            status, _, s = await fetch(port, "GET", READS[i % len(READS)])
            return status, s

    return await asyncio.gather(*(one(i) for i in range(requests)))


async def warm_up(port: int, photo: bytes) -> None:
    for path in READS:
        status, _, _ = await fetch(port, "GET", path)
        if status != 200:
            raise click.ClickException(f"warm-up: GET {path} answered {status}")
    cookie, csrf = await session(port)
    body, headers = identify_request(photo, cookie, csrf)
    status, answer, _ = await fetch(port, "POST", "/api/identify", body, headers)
    if status != 200:
        raise click.ClickException(f"warm-up: identify answered {status}: {answer[-200:]!r}")


# -- the run --------------------------------------------------------------------------------------

def run(requests: int = 5000, concurrency: int = 5000, identify: int = 20, bundle: str = "accurate",
        server: str = "pool", port: int | None = None) -> dict:
    """Start the server, warm it up, fire the requests; the figures as a dict (MB, s)."""
    import edge
    from edge.bundle import BundleError, load_bundle

    try:
        load_bundle(bundle)
    except BundleError as exc:
        raise click.ClickException(str(exc)) from None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)   # a socket per open request
    if soft < concurrency + 256:
        want = concurrency + 1024
        resource.setrlimit(resource.RLIMIT_NOFILE,
                           (want if hard == resource.RLIM_INFINITY else min(hard, want), hard))
    photo = (DATA / "orl" / "s1" / "1.pgm").read_bytes()
    if port is None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as tmp:
        gallery = str(Path(tmp) / "gallery.db")
        for name, person in (("s21", 21), ("s22", 22)):
            edge.enrol(name, str(DATA / "orl" / f"s{person}" / "1.pgm"), gallery=gallery,
                       bundle=bundle)
        log = open(Path(tmp) / "server.log", "w+")
        child = subprocess.Popen([sys.executable, "-m", "benchmarks.web_load", "--child",
                                  str(port), gallery, bundle, server],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                                 cwd=ROOT, text=True)
        try:
            if child.stdout.readline().strip() != "ready":
                child.wait(10)
                log.seek(0)
                said = [line for line in log.read().splitlines() if line.strip()]
                raise click.ClickException(f"the server did not start: {said[-1:] or '?'}")
            asyncio.run(warm_up(port, photo))
            before = status_of(child.pid)
            t0 = time.perf_counter()
            answers = asyncio.run(load(port, requests, concurrency, identify, photo))
            seconds = time.perf_counter() - t0
            after = status_of(child.pid)
        finally:
            child.stdin.close()
            child.kill()
            child.wait()
            log.close()
    times = np.array([s for _, s in answers])
    return {"server": server, "bundle": bundle, "requests": requests, "concurrency": concurrency,
            "identify": identify, "failures": sum(status != 200 for status, _ in answers),
            "seconds": seconds, "baseline_mb": before["VmRSS"] / 1024,
            "peak_mb": after["VmHWM"] / 1024, "threads": after["Threads"], "latency": {
                "min": times.min(), "mean": times.mean(), "p50": np.percentile(times, 50),
                "p95": np.percentile(times, 95), "max": times.max()}}


@click.command()
@click.option("--requests", default=5000, show_default=True, help="Requests in all.")
@click.option("--concurrency", default=5000, show_default=True, help="Requests open at once.")
@click.option("--identify", default=20, show_default=True, help="Of which photo identifications.")
@click.option("--bundle", default="accurate", show_default=True,
              help="The bundle the server uses (as edge-identify --bundle).")
@click.option("--server", type=click.Choice(["pool", "threaded"]), default="pool",
              show_default=True, help="pool: edge.web.start (waitress, a fixed pool of workers); "
                                      "threaded: werkzeug, a thread per request.")
@click.option("--child", nargs=4, hidden=True)
def main(requests, concurrency, identify, bundle, server, child):
    """Peak memory of the web view's server (a child process) under REQUESTS requests,
    CONCURRENCY of them open at once, with the latency and the failures."""
    if child:
        port, gallery, bundle, server = child
        return serve(int(port), gallery, bundle, server)
    from edge.web.server import MAX_CONNECTIONS, WORKERS

    r = run(requests, concurrency, identify, bundle, server)
    kind = (f"edge.web.start (waitress: {WORKERS} workers, {MAX_CONNECTIONS} connections)"
            if server == "pool" else "werkzeug threaded (a thread per request)")
    lat = r["latency"]
    click.echo(f"server: {kind}; bundle {bundle}; warm-up: every route once and one identification")
    click.echo(f"requests: {requests} ({identify} identifications of orl/s1/1.pgm), {concurrency} "
               f"at once: {r['seconds']:.1f} s, {requests / r['seconds']:.0f} per second, "
               f"failures {r['failures']}")
    click.echo(f"latency s: min {lat['min']:.3f}  mean {lat['mean']:.3f}  p50 {lat['p50']:.3f}  "
               f"p95 {lat['p95']:.3f}  max {lat['max']:.3f}")
    click.echo(f"server memory: {r['baseline_mb']:.0f} MB after warm-up, "
               f"peak {r['peak_mb']:.0f} MB (VmHWM), {r['threads']} threads after the run; "
               f"target {TARGET_MB} MB: "
               f"{'met' if r['peak_mb'] <= TARGET_MB else 'over'}")
    sys.exit(0 if r["failures"] == 0 and r["peak_mb"] <= TARGET_MB else 1)


if __name__ == "__main__":
    main()
