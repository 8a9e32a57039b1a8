"""The HTML pages: live view, enrol, gallery, identify a photo, the recent sightings with
their corrections; thumbnails and the stream.

A change that works redirects (303) to the page that shows it, with a one-line notice;
one that is refused shows the same page again with the reason (no server paths), and a
4xx status. At most ``viewers`` (a semaphore) watch the live stream at once: each
holds one of the server's workers while it lasts.
"""
from __future__ import annotations

import base64

import cv2
from flask import (Blueprint, Response, abort, current_app, flash, redirect, render_template,
                   request, url_for)

from edge.web.messages import public
from edge.web.operations import USER_ERRORS, status_of
from edge.web.uploads import photo_from, read_upload
from gallery.sightings import MAX_ID   # SQLite's largest row id


RECENT = 48          # sightings on one page of Recent


def make_pages(ops, live, info, viewers) -> Blueprint:
    bp = Blueprint("pages", __name__)

    def refused(template, exc, **values):
        return page(template, status_of(exc), error=public(exc, ops.path), **values)

    def page(template, status=200, **values):
        return render_template(template, info=info, **values), status

    def photo():
        return photo_from(request.form, request.files, live, current_app.config["MAX_PIXELS"])

    @bp.get("/")
    def live_view():
        return page("live.html", latest=live.latest())

    @bp.get("/stream.mjpg")
    def stream():
        if not info["has_source"]:
            abort(404, "no live source: start edge-identify with --camera, --video or --images")
        if not viewers.acquire(blocking=False):
            abort(503, "the live stream has as many viewers as it serves at once: "
                       "try again when one leaves")
        response = Response(live.mjpeg(), mimetype="multipart/x-mixed-replace; boundary=frame")
        response.call_on_close(viewers.release)
        return response

    @bp.get("/snapshot.jpg")
    def snapshot():
        _, data = live.jpeg()
        if not data:
            abort(404, "no frame from the live source yet")
        return Response(data, mimetype="image/jpeg")

    def png(read, key, what):
        try:
            return Response(read(key), mimetype="image/png")
        except USER_ERRORS:
            abort(404, f"no {what} {key}")

    @bp.get(f"/thumbnails/<int(min=1, max={MAX_ID}):enrolment>.png")
    def thumbnail(enrolment):
        return png(ops.thumbnail, enrolment, "thumbnail")

    @bp.get("/enrol")
    def enrol_form():
        return page("enrol.html")

    @bp.post("/enrol")
    def enrol():
        name = request.form.get("name", "")
        try:
            image, source = photo()
            done = ops.enrol(name, image, source)
        except USER_ERRORS as exc:
            return refused("enrol.html", exc, name=name)
        flash(f"Enrolled {done['name']}.")
        return redirect(url_for(".gallery"), 303)

    @bp.get("/gallery")
    def gallery():
        return page("gallery.html", people=ops.people())

    def gallery_change(change):
        try:
            message = change(request.form)
        except USER_ERRORS as exc:
            return refused("gallery.html", exc, people=ops.people())
        flash(message)
        return redirect(url_for(".gallery"), 303)

    @bp.post("/gallery/append")
    def append():
        def change(form):
            image, source = photo()
            done = ops.enrol(form.get("name", ""), image, source, append=True)
            return f"Added a snapshot to {done['name']}."
        return gallery_change(change)

    @bp.post("/gallery/rename")
    def rename():
        def change(form):
            old = form.get("name", "")
            return f"Renamed {old} to {ops.rename(old, form.get('new_name', ''))}."
        return gallery_change(change)

    @bp.post("/gallery/remove")
    def remove():
        def change(form):
            name = form.get("name", "")
            n = ops.remove(name)
            return f"Removed {name} ({n} snapshot{'' if n == 1 else 's'})."
        return gallery_change(change)

    @bp.get(f"/sightings/<int(min=1, max={MAX_ID}):sighting>.png")
    def sighting_thumbnail(sighting):
        return png(ops.sighting_thumbnail, sighting, "sighting")

    def recent_page(status=200, **values):
        before = request.args.get("before", type=int)
        unknown = request.args.get("unknown") == "1"
        found = ops.sightings(unknown=unknown, before=before, limit=RECENT + 1)
        return page("recent.html", status, sightings=found[:RECENT], unknown=unknown,
                    older=found[RECENT - 1]["id"] if len(found) > RECENT else None,
                    names=[p["name"] for p in ops.people()], **values)

    @bp.get("/recent")
    def recent():
        return recent_page()

    def correction(correct, said):
        form = request.form
        try:
            done = correct(form.get("sighting", ""), form.get("name", ""))
        except USER_ERRORS as exc:
            return recent_page(status_of(exc), error=public(exc, ops.path))
        flash(said(done))
        return redirect(url_for(".recent"), 303)

    @bp.post("/recent/assign")
    def assign():
        return correction(ops.assign, lambda done: (
            f"Sighting {done['sighting']} is {done['name']}: faces like it are named "
            f"{done['name']} from now on."))

    @bp.post("/recent/reject")
    def reject():
        return correction(ops.reject, lambda done: (
            f"Sighting {done['sighting']} is not {done['name']}: faces closer to it than to "
            f"{done['name']}'s own are no longer named {done['name']}."))

    @bp.get("/identify")
    def identify_form():
        return page("identify.html")

    @bp.post("/identify")
    def identify():
        try:
            faces, drawn = ops.identify(read_upload(request.files.get("photo"),
                                                    current_app.config["MAX_PIXELS"]))
        except USER_ERRORS as exc:
            return refused("identify.html", exc)
        ok, jpeg = cv2.imencode(".jpg", drawn, [cv2.IMWRITE_JPEG_QUALITY, 85])
        picture = "data:image/jpeg;base64," + base64.b64encode(jpeg.tobytes()).decode()
        return page("identify.html", faces=faces, picture=picture)

    return bp
