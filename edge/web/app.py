"""The Flask app of the device's web view: pages, JSON API, security, error pages.

Every refusal is one line without server paths (``edge.web.messages``): the pages show
it on their own page or on an error page, the API as ``{"error": ...}``.
"""
from __future__ import annotations

import secrets
import threading
import time

from flask import Flask, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from edge.web import security
from edge.web.api import make_api
from edge.web.live import LiveFeed
from edge.web.messages import public
from edge.web.operations import USER_ERRORS, Operations, status_of
from edge.web.pages import make_pages
from edge.web.uploads import MAX_PIXELS

MAX_UPLOAD_BYTES = 32 * 1024 * 1024   # a 48 MP phone JPEG is 10-25 MB
MAX_VIEWERS = 4                       # live streams watched at once (each holds a worker)


def create_app(bundle, gallery_path=None, pipeline=None, token: str | None = None,
               live: LiveFeed | None = None, max_upload_bytes: int = MAX_UPLOAD_BYTES,
               max_pixels: int = MAX_PIXELS, threads: int | None = 1,
               max_viewers: int = MAX_VIEWERS) -> Flask:
    """The web view of ``gallery_path`` with ``bundle``'s models.

    ``pipeline``: the identify loop's ``edge.pipeline.Pipeline`` when a source is running
    (its match threshold is used; its frames arrive through ``live.publish``); None
    without one.
    ``token``: required on every request when given (see ``edge.web.security``).
    ``max_viewers``: live streams served at once; one more is answered 503.
    """
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=secrets.token_bytes(32),
        SESSION_COOKIE_NAME="edge_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        MAX_CONTENT_LENGTH=int(max_upload_bytes),
        MAX_PIXELS=int(max_pixels),
    )
    threshold = (pipeline.matcher.rule or pipeline.matcher.threshold) if pipeline else None
    ops = Operations(bundle, gallery_path, threshold, threads)
    live = live or LiveFeed()
    info = {"bundle": bundle.name, "variant": bundle.variant,
            "threshold": ops.threshold, "has_source": pipeline is not None,
            "max_upload_mb": max_upload_bytes / 2**20, "max_megapixels": max_pixels / 1e6}
    app.jinja_env.filters["clock"] = lambda t: time.strftime("%H:%M:%S", time.localtime(t))
    app.jinja_env.filters["stamp"] = lambda t: time.strftime("%Y-%m-%d %H:%M:%S",
                                                             time.localtime(t))
    security.install(app, token)
    viewers = threading.BoundedSemaphore(max_viewers)
    app.register_blueprint(make_pages(ops, live, info, viewers))
    app.register_blueprint(make_api(ops, live, info), url_prefix="/api")

    def error_page(title, message, status):
        if request.path.startswith("/api/"):
            response = jsonify(error=message)
        else:
            response = app.make_response(render_template("message.html", title=title,
                                                          message=message))
        response.status_code = status
        return response

    def user_error(exc):   # one a page did not expect, e.g. a damaged gallery file
        return error_page("Refused", public(exc, ops.path), status_of(exc))

    for error in USER_ERRORS:
        app.register_error_handler(error, user_error)

    @app.errorhandler(HTTPException)
    def http_error(exc):
        message = public(exc.description, ops.path)
        if exc.code == 413:
            message = f"the upload is too large (at most {info['max_upload_mb']:g} MB)"
        elif exc.code == 405 and exc.valid_methods:
            use = [m for m in exc.valid_methods if m not in ("HEAD", "OPTIONS")]
            message = f"{request.method} is not allowed here (use {' or '.join(use)})"
        response = error_page(exc.name, message, exc.code)
        for name, value in exc.get_headers():        # Allow, Retry-After, ...
            if name.lower() != "content-type":
                response.headers[name] = value
        if exc.code == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="edge"'
        return response

    return app
