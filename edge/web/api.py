"""The JSON API behind the pages (documented in docs/web.md).

Reads are GET; changes are POST with form fields (multipart for a photo) or a JSON body.
Every error is ``{"error": "one line"}`` (without server paths) with a 4xx status.
"""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from edge.web.messages import public
from edge.web.operations import USER_ERRORS, status_of
from edge.web.security import csrf_token
from edge.web.uploads import photo_from, read_upload
from gallery.when import since as parse_since

TRUE = {"1", "true", "yes", "on"}
LIMIT, MAX_LIMIT = 100, 1000   # sightings in one answer: by default, at most


def make_api(ops, live, info) -> Blueprint:
    bp = Blueprint("api", __name__)

    def fields() -> dict:
        return request.form if request.form else (request.get_json(silent=True) or {})

    def refused(exc):
        return jsonify(error=public(exc, ops.path)), status_of(exc)

    for error in USER_ERRORS:
        bp.register_error_handler(error, refused)

    @bp.get("/session")
    def session_info():
        return jsonify(csrf_token=csrf_token(), bundle=info["bundle"], variant=info["variant"],
                       threshold=info["threshold"], live=info["has_source"])

    @bp.get("/people")
    def people():
        return jsonify(people=ops.people())

    @bp.get("/latest")
    def latest():
        return jsonify(live.latest())

    @bp.post("/enrol")
    def enrol():
        form = fields()
        image, source = photo_from(form, request.files, live, current_app.config["MAX_PIXELS"])
        append = str(form.get("append", "")).lower() in TRUE
        return jsonify(ops.enrol(form.get("name", ""), image, source, append)), 201

    @bp.post("/rename")
    def rename():
        form = fields()
        return jsonify(name=ops.rename(form.get("name", ""), form.get("new_name", "")))

    @bp.post("/remove")
    def remove():
        form = fields()
        return jsonify(removed=form.get("name", ""), embeddings=ops.remove(form.get("name", "")))

    @bp.get("/sightings")
    def sightings():
        args = request.args
        since = args.get("since")
        return jsonify(sightings=ops.sightings(
            unknown=str(args.get("unknown", "")).lower() in TRUE,
            since=None if since is None else parse_since(since),
            limit=min(max(args.get("limit", LIMIT, type=int), 1), MAX_LIMIT),
            before=args.get("before", type=int)))

    def correct(verb, made):
        """A sighting assigned to or rejected as a person: the answer names what was made."""
        form = fields()
        done = verb(form.get("sighting", ""), form.get("name", ""))
        return jsonify(sighting=done["sighting"], name=done["name"], **{made: done["id"]},
                       reembedded=done["reembedded"]), 201

    @bp.post("/assign")
    def assign():
        return correct(ops.assign, "enrolment")

    @bp.post("/reject")
    def reject():
        return correct(ops.reject, "rejection")

    @bp.post("/identify")
    def identify():
        image = read_upload(request.files.get("photo"), current_app.config["MAX_PIXELS"])
        faces, _ = ops.identify(image)
        return jsonify(faces=faces, threshold=ops.threshold)

    return bp
