"""Serving the web view on a background thread while the identify loop runs.

``--serve PORT`` binds 127.0.0.1 (this machine only). ``--serve HOST:PORT`` with any
other address needs a token: ``--token-file PATH``, ``--token`` / ``EDGE_TOKEN``, else
the one saved next to the gallery (``web-token``), else a new one made with ``secrets``,
saved there (mode 600) and printed once.

The server is waitress: one thread reads and writes every connection (a slow or idle
client holds no worker), and a fixed pool of ``WORKERS`` threads runs the app, so its
memory stays bounded however many clients come. At most ``MAX_CONNECTIONS`` connections
are open at once; further ones wait in the kernel's listen backlog. A live stream holds
a worker while someone watches, so at most ``MAX_VIEWERS`` (half the pool) watch at once
(``edge.web.app``); the next viewer gets a 503 and the page retries.
"""
from __future__ import annotations

import ipaddress
import os
import secrets
import socket
import threading
from pathlib import Path

import click
from waitress import wasyncore
from waitress.server import create_server

from edge.cli_common import fail
from edge.web.app import MAX_UPLOAD_BYTES, MAX_VIEWERS, create_app
from edge.web.live import LiveFeed

TOKEN_FILE = "web-token"
MIN_TOKEN = 16
WORKERS = 2 * MAX_VIEWERS      # threads running the app
MAX_CONNECTIONS = 100          # open connections; more wait in the listen backlog
SERVER = dict(threads=WORKERS, connection_limit=MAX_CONNECTIONS, backlog=1024,
              channel_timeout=60,                     # idle connections closed after 60 s
              max_request_body_size=MAX_UPLOAD_BYTES + 2**20,   # form fields around a photo
              outbuf_high_watermark=2**20,            # a slow viewer pauses its own stream
              ident="edge")


def parse_address(serve: str) -> tuple[str, int]:
    """("127.0.0.1", 8000) from "8000"; ("0.0.0.0", 8000) from "0.0.0.0:8000"; "[::]:8000"."""
    host, _, port = str(serve).strip().rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--serve {serve}: expected [HOST:]PORT, e.g. 8000 or 0.0.0.0:8000")
    return host, int(port)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def saved_token(gallery_path) -> tuple[str, Path, bool]:
    """(token, its file, whether it is new): the one saved next to the gallery, or a new one."""
    from gallery.store import default_path

    path = Path(gallery_path or default_path()).parent / TOKEN_FILE
    if path.is_file():
        token = path.read_text().strip()
        if len(token) >= MIN_TOKEN:
            return token, path, False
    token = secrets.token_urlsafe(24)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    return token, path, True


def read_token_file(path) -> str:
    """The token in the file at ``path`` (one line), or one clear line why not."""
    try:
        token = Path(path).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        fail(f"--token-file {path}: no such file")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"--token-file {path}: cannot read it ({getattr(exc, 'strerror', None) or exc})")
    if not token or "\n" in token:
        fail(f"--token-file {path}: expected one line holding the token")
    return token


def listen(host: str, port: int) -> socket.socket:
    """The listening socket (IPv6 when ``host`` is an IPv6 address; "::" takes IPv4 too)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family, backlog=SERVER["backlog"],
                                dualstack_ipv6=host == "::" and socket.has_dualstack_ipv6())


class WebServer:
    """The running server: ``publish(frame, result)`` feeds the live view."""

    def __init__(self, server, live: LiveFeed, url: str):
        self.server, self.live, self.url = server, live, url
        self.thread = threading.Thread(target=server.run, name="edge-web", daemon=True)
        self.thread.start()

    def publish(self, frame_bgr, frame_result) -> None:
        self.live.publish(frame_bgr, frame_result)

    def wait(self) -> None:
        """Keep serving until Ctrl-C (for sources that end, such as --images)."""
        click.echo(f"still serving {self.url} (Ctrl-C to stop)", err=True)
        try:
            while self.thread.is_alive():
                self.thread.join(0.5)
        except KeyboardInterrupt:
            pass
        self.close()

    def close(self) -> None:
        """End the live streams, close every connection (in the server's own thread),
        then let the workers finish."""
        self.live.close()
        if self.thread.is_alive():
            self.server.trigger.pull_trigger(lambda: wasyncore.close_all(self.server._map, True))
            self.thread.join(10)
        self.server.task_dispatcher.shutdown(timeout=5)


def start(serve, token, bundle, gallery_path, pipeline, threads: int | None = 1,
          token_file=None) -> WebServer:
    """Serve the web view at ``serve`` ([HOST:]PORT) on a background thread.

    ``token_file``: a file holding the token (read here; it wins over ``token``).
    """
    try:
        host, port = parse_address(serve)
    except ValueError as exc:
        fail(str(exc))
    saved = new = None
    if token_file is not None:
        token = read_token_file(token_file)
    if token is not None and len(token) < MIN_TOKEN:
        what = f"--token-file {token_file}" if token_file is not None else "--token"
        fail(f"{what}: use at least {MIN_TOKEN} characters (or leave it out to get one made)")
    if token is None and not is_loopback(host):
        token, saved, new = saved_token(gallery_path)
    live = LiveFeed()
    app = create_app(bundle, gallery_path, pipeline, token, live=live, threads=threads)
    try:
        server = create_server(app, sockets=[listen(host, port)], **SERVER)
    except OSError as exc:
        fail(f"cannot serve on {host}:{port}: {exc.strerror or exc}")
    shown = socket.gethostname() if host in ("0.0.0.0", "::") else host
    shown = f"[{shown}]" if ":" in shown else shown
    url = f"http://{shown}:{port}/"
    web = WebServer(server, live, url)
    click.echo(f"web view: {url}", err=True)
    if new:
        click.echo(f"access token (new, saved in {saved}): {token}", err=True)
        click.echo(f"open {url}?token={token} once in your browser", err=True)
    elif token is not None:
        where = (f"the one in {saved}" if saved else f"the one in {token_file}"
                 if token_file is not None else "--token / EDGE_TOKEN")
        click.echo(f"access token required ({where}): open {url}?token=TOKEN once", err=True)
    return web
