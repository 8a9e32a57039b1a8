"""Who may use the web view, and how changes are protected.

- **Token.** When the app has a token, every request but the style sheet must carry it:
  ``Authorization: Bearer TOKEN``, or once ``?token=TOKEN`` in a page's address, which
  signs the browser in (an HttpOnly, SameSite=Strict session cookie) and reloads the
  page without the token in its address. No token, no access: 401. Wrong tokens are
  throttled per client address (``edge.web.throttle``): after a few, 429 for a while.
- **No token** (bound to 127.0.0.1): only requests whose Host is a loopback name are
  served, so a web page elsewhere cannot reach the app through DNS rebinding.
- **Origin.** A change (POST, PUT, PATCH, DELETE) whose ``Origin`` header (else
  ``Referer``) names another site than the one asked for (the request's scheme and
  Host; an https page of the same Host also counts, as behind an HTTPS proxy) is
  refused: 403. Requests with neither header (curl, scripts) go on to the checks below.
- **CSRF.** Changes are POST only; each POST carries the session's CSRF token in the
  form field ``csrf_token`` or the header ``X-CSRF-Token`` (missing: 400, wrong: 403).
  A request signed with the Bearer header needs none: a browser never adds that header
  by itself, so another site cannot forge it.
- **Headers.** A strict Content-Security-Policy (no inline script, no framing),
  nosniff, referrers only to this site (so a browser's own POSTs carry their Origin,
  which ``no-referrer`` would turn into "null"), and no caching of anything but the
  style sheet.
"""
from __future__ import annotations

import hmac
import math
import secrets
from urllib.parse import urlencode, urlsplit

from flask import abort, g, render_template, request, session
from werkzeug.exceptions import TooManyRequests

from edge.web.throttle import Throttle

LOOPBACK = {"localhost", "127.0.0.1", "::1"}
OPEN = {"static"}  # endpoints served without the token: the style sheet and script
CHANGES = {"POST", "PUT", "PATCH", "DELETE"}
CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8", "replace"), b.encode("utf-8", "replace"))


def csrf_token() -> str:
    """This session's CSRF token (made on first use)."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def install(app, token: str | None) -> None:
    """Check every request of ``app`` as the module docstring says. The wrong tokens'
    ``Throttle`` is ``app.extensions["edge.throttle"]``."""
    app.jinja_env.globals["csrf_token"] = csrf_token
    throttle = app.extensions["edge.throttle"] = Throttle()

    @app.before_request
    def guard():
        g.bearer = False
        if token is None:
            if _host() not in LOOPBACK:
                abort(400, "this server answers only to localhost (start it with a token "
                           "to serve other addresses)")
        if request.method in CHANGES and not _same_origin():
            abort(403, "refused: this change was sent from another site")
        if token is not None and request.endpoint not in OPEN:
            signed_in = _authenticate(token, throttle)
            if signed_in is not None:
                return signed_in
        if request.method == "POST" and not g.bearer:
            sent = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token")
            if not sent:
                abort(400, "missing CSRF token: reload the page and try again")
            if not same(sent, session.get("csrf", "")):
                abort(403, "wrong CSRF token: reload the page and try again")

    @app.after_request
    def headers(response):
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "same-origin"
        if request.endpoint not in OPEN:
            response.headers["Cache-Control"] = "no-store"
        return response


def _host() -> str:
    host = request.host.lower()
    if host.startswith("["):
        return host[1:].split("]")[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _same_origin() -> bool:
    """True when the request's Origin (else Referer) is this server, or it has neither."""
    sent = request.headers.get("Origin") or request.headers.get("Referer")
    if sent is None:
        return True
    parts = urlsplit(sent)
    return (parts.netloc.lower() == request.host.lower()
            and parts.scheme in (request.scheme, "https"))


def _check(given: str, token: str, throttle: Throttle) -> None:
    """Abort unless ``given`` is the token (and this address may still try one)."""
    address = request.remote_addr
    wait = throttle.wait(address)
    if wait:
        raise TooManyRequests(f"too many wrong tokens from your address: try again in "
                              f"{math.ceil(wait)} s", retry_after=math.ceil(wait))
    if not same(given, token):
        throttle.failed(address)
        abort(401, "wrong token")
    throttle.passed(address)


def _authenticate(token: str, throttle: Throttle):
    """None when the request may go on; a response (the sign-in reload) to send instead."""
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        _check(header[7:].strip(), token, throttle)
        g.bearer = True
        return None
    given = request.args.get("token")
    if given is not None:
        _check(given, token, throttle)
        session["auth"] = True
        if request.method == "GET":  # reload without the token in the address bar
            rest = urlencode([(k, v) for k, v in request.args.items(multi=True) if k != "token"])
            target = "/" + request.path.lstrip("/") + (f"?{rest}" if rest else "")
            return render_template("signed_in.html", target=target)
        return None
    if not session.get("auth"):
        abort(401, "this server needs its access token: open the address it printed at "
                   "start (ending in ?token=...), or send Authorization: Bearer TOKEN")
    return None
