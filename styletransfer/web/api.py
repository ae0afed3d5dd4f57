"""The JSON API: the page's jobs for scripts, with the same limits and ownership (docs/http-api.md)."""
from __future__ import annotations

import functools

import flask

from ..jobs import Jobs, JobNotFound, NotChangeable, OverCapacity
from ..jobs.admission import check_size
from ..limits import Limits
from ..settings import Settings
from ..images import jpeg_bytes
from .inputs import (UPLOADS_PATH, FileTooLarge, TooLarge, accept_upload, decode_together, decode_upload,
                     offered_backbone, parse_json, read_files, read_json_body)
from .present import job_urls
from .routes import job_or_404, no_store
from .sessions import client_address, session_id

PUBLIC_FIELDS = ("id", "status", "queue_position", "iteration", "total_iterations", "scale", "scales", "size", "eta",
                 "elapsed", "losses", "settings", "weights", "events", "error", "frame_seq", "frame_time", "frame_log",
                 "frames", "created", "started", "finished", "device", "note", "attempt")


def api_error(message: str, status: int):
    return no_store(flask.jsonify({"error": message})), status


# The status follows the error's type, never its text; the first type that matches wins.
ERROR_STATUS = ((JobNotFound, 404), (OverCapacity, 429), (TooLarge, 413), (FileTooLarge, 413), (NotChangeable, 409),
                (ValueError, 400))


def json_errors(route):
    """``route`` answering bad input as one JSON line with its status (ERROR_STATUS); a bug is not caught."""
    @functools.wraps(route)
    def answer(*args, **kwargs):
        try:
            return route(*args, **kwargs)
        except tuple(kind for kind, _ in ERROR_STATUS) as exc:
            status = next(status for kind, status in ERROR_STATUS if isinstance(exc, kind))
            return api_error("no such job in this session" if status == 404 else str(exc), status)
    return answer


def created(view):
    """201 with the new job's JSON and its address."""
    response = flask.jsonify(public(view))
    response.headers["Location"] = f"/api/jobs/{view.id}"
    return no_store(response), 201


def public(view) -> dict:
    """The API's view of a job: what the page shows, without internals, and where its pieces are."""
    values = view.to_dict()
    return {**{k: values[k] for k in PUBLIC_FIELDS}, "urls": job_urls(view)}


def register(server: flask.Flask, jobs: Jobs, limits: Limits, models_dir: str | None) -> None:
    """The API's routes on ``server``, and JSON for any other /api/ path."""
    register_json_only(server)
    register_uploads(server, jobs, limits)
    register_jobs(server, jobs, limits, models_dir)


def register_json_only(server: flask.Flask) -> None:
    @server.before_request
    def api_paths_are_json_only():
        """Under /api/, a request no API route takes gets JSON 405/404, never the studio's HTML."""
        if not flask.request.path.startswith("/api/"):
            return None
        rule = flask.request.url_rule
        if rule is not None and rule.endpoint.startswith("api_"):
            return None
        adapter = server.url_map.bind("localhost")
        allowed = []
        for method in ("GET", "POST"):
            try:
                endpoint, _ = adapter.match(flask.request.path, method=method)
            except Exception:  # noqa: BLE001 — no route for that method
                continue
            if endpoint.startswith("api_"):
                allowed.append(method)
        if not allowed:
            return api_error("no such API path", 404)
        response, status = api_error(f"{flask.request.method} is not allowed here; use {' or '.join(allowed)}", 405)
        response.headers["Allow"] = ", ".join(allowed)
        return response, status


def register_uploads(server: flask.Flask, jobs: Jobs, limits: Limits) -> None:
    @server.route("/api/uploads", methods=["POST"])
    @json_errors
    def api_upload():
        """One image (multipart ``file``) kept for this session; answers its ``url``, name and size."""
        raw, name, img = accept_upload(flask.request.files.getlist("file"), limits)
        token = jobs.uploads.put(session_id(), raw, name)
        return no_store(flask.jsonify({"url": UPLOADS_PATH + token, "name": name, "width": img.width,
                                       "height": img.height})), 201

    @server.route("/api/uploads/<token>", methods=["GET"])
    def api_upload_preview(token):
        """The upload as a JPEG of at most 640 px a side."""
        try:
            img = decode_upload(jobs.uploads, session_id(), UPLOADS_PATH + token, "image", limits)
        except ValueError:
            return api_error("no such upload in this session", 404)
        img.thumbnail((640, 640))
        return no_store(flask.Response(jpeg_bytes(img), mimetype="image/jpeg"))


def register_jobs(server: flask.Flask, jobs: Jobs, limits: Limits, models_dir: str | None) -> None:
    @server.route("/api/jobs", methods=["GET"])
    def api_jobs():
        return no_store(flask.jsonify([public(j) for j in jobs.list(session_id())]))

    @server.route("/api/jobs", methods=["POST"])
    @json_errors
    def api_submit():
        """multipart/form-data: ``content``, ``style`` (one or more) and ``settings`` (JSON of Settings fields)."""
        parts = (read_files(flask.request.files.getlist("content"), "content", limits, single=True)
                 + read_files(flask.request.files.getlist("style"), "style", limits))
        content, *styles = decode_together(parts, limits, known_size=False)
        values = parse_json(flask.request.form.get("settings", "{}"), "settings")
        if isinstance(values, dict):
            check_size(values.get("size"), limits)
        if isinstance(values, dict) and "backbone" in values:
            values["backbone"] = offered_backbone(values["backbone"], models_dir)
        return created(jobs.submit(session_id(), content, styles, Settings.from_dict(values), client=client_address()))

    @server.route("/api/jobs/<job_id>", methods=["GET"])
    def api_job(job_id):
        return no_store(flask.jsonify(public(job_or_404(jobs.get, job_id))))

    @server.route("/api/jobs/<job_id>/cancel", methods=["POST"])
    def api_cancel(job_id):
        return no_store(flask.jsonify(public(job_or_404(jobs.cancel, job_id))))

    @server.route("/api/jobs/<job_id>/print", methods=["POST"])
    @json_errors
    def api_print(job_id):
        """A JSON object ``{"size": N}``: a new job, this finished job's result painted again at N px."""
        values = read_json_body("the print")
        if not isinstance(values, dict) or not isinstance(values.get("size"), int):
            return api_error("send a JSON object with the print's size in px, e.g. {\"size\": 2048}", 400)
        return created(jobs.make_print(job_id, session_id(), values["size"], client=client_address()))

    @server.route("/api/jobs/<job_id>/weights", methods=["POST"])
    @json_errors
    def api_weights(job_id):
        """A JSON object of live weights (content_weight, style_weight, tv_weight, style_layer_weights)."""
        values = read_json_body("the weights")
        if not isinstance(values, dict) or not values:
            return api_error("send a JSON object of weights, e.g. {\"style_weight\": 100}", 400)
        return no_store(flask.jsonify(public(jobs.update(job_id, session_id(), **values))))
