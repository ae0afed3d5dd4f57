"""The JSON API: the page's jobs for scripts, with the same limits and ownership (docs/http-api.md)."""
from __future__ import annotations

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


def public(view) -> dict:
    """The API's view of a job: what the page shows, without internals, and where its pieces are."""
    values = view.to_dict()
    return {**{k: values[k] for k in PUBLIC_FIELDS}, "urls": job_urls(view)}


def register(server: flask.Flask, jobs: Jobs, limits: Limits, models_dir: str | None) -> None:
    @server.before_request
    def api_paths_are_json_only():
        """Dash's page route catches every GET: under /api/ a request no API route takes gets JSON 405/404,
        never the studio's HTML."""
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

    @server.route("/api/uploads", methods=["POST"])
    def api_upload():
        """One image (multipart field ``file``), kept for this session for a few hours. The answer's ``url``
        is what the page's callbacks send instead of the file, and a preview of it."""
        try:
            raw, name, img = accept_upload(flask.request.files.getlist("file"), limits)
        except FileTooLarge as exc:
            return api_error(str(exc), 413)
        except ValueError as exc:  # ImageError: not an image, damaged, too many pixels
            return api_error(str(exc), 400)
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

    @server.route("/api/jobs", methods=["GET"])
    def api_jobs():
        return no_store(flask.jsonify([public(j) for j in jobs.list(session_id())]))

    @server.route("/api/jobs", methods=["POST"])
    def api_submit():
        """multipart/form-data: ``content`` (one file), ``style`` (one or more), ``settings`` (a JSON object
        of :class:`Settings` fields; what is left out takes its default)."""
        try:
            parts = (read_files(flask.request.files.getlist("content"), "content", limits, single=True)
                     + read_files(flask.request.files.getlist("style"), "style", limits))
            content, *styles = decode_together(parts, limits, known_size=False)
            values = parse_json(flask.request.form.get("settings", "{}"), "settings")
            if isinstance(values, dict):
                check_size(values.get("size"), limits)
            if isinstance(values, dict) and "backbone" in values:
                values["backbone"] = offered_backbone(values["backbone"], models_dir)
            view = jobs.submit(session_id(), content, styles, Settings.from_dict(values), client=client_address())
        except OverCapacity as exc:  # too many jobs now: the same request may go through later
            return api_error(str(exc), 429)
        except TooLarge as exc:
            return api_error(str(exc), 413)
        except ValueError as exc:  # ImageError, ImageTooSmall, SettingError, a job over a limit: one line each
            return api_error(str(exc), 400)
        response = flask.jsonify(public(view))
        response.headers["Location"] = f"/api/jobs/{view.id}"
        return no_store(response), 201

    @server.route("/api/jobs/<job_id>", methods=["GET"])
    def api_job(job_id):
        return no_store(flask.jsonify(public(job_or_404(jobs.get, job_id))))

    @server.route("/api/jobs/<job_id>/cancel", methods=["POST"])
    def api_cancel(job_id):
        return no_store(flask.jsonify(public(job_or_404(jobs.cancel, job_id))))

    @server.route("/api/jobs/<job_id>/print", methods=["POST"])
    def api_print(job_id):
        """A JSON object ``{"size": N}``: a new job, this finished job's result painted again at N px."""
        try:
            values = read_json_body("the print")
            if not isinstance(values, dict) or not isinstance(values.get("size"), int):
                return api_error("send a JSON object with the print's size in px, e.g. {\"size\": 2048}", 400)
            view = jobs.make_print(job_id, session_id(), values["size"], client=client_address())
        except JobNotFound:
            return api_error("no such job in this session", 404)
        except OverCapacity as exc:
            return api_error(str(exc), 429)
        except TooLarge as exc:
            return api_error(str(exc), 413)
        except ValueError as exc:  # not finished, images gone, a size out of range, a job over a limit
            return api_error(str(exc), 400)
        response = flask.jsonify(public(view))
        response.headers["Location"] = f"/api/jobs/{view.id}"
        return no_store(response), 201

    @server.route("/api/jobs/<job_id>/weights", methods=["POST"])
    def api_weights(job_id):
        """A JSON object of live weights (content_weight, style_weight, tv_weight, style_layer_weights)."""
        try:
            values = read_json_body("the weights")
            if not isinstance(values, dict) or not values:
                return api_error("send a JSON object of weights, e.g. {\"style_weight\": 100}", 400)
            view = jobs.update(job_id, session_id(), **values)
        except JobNotFound:
            return api_error("no such job in this session", 404)
        except TooLarge as exc:
            return api_error(str(exc), 413)
        except NotChangeable as exc:  # the job has ended
            return api_error(str(exc), 409)
        except ValueError as exc:  # a bad value, or a weight that cannot change live
            return api_error(str(exc), 400)
        return no_store(flask.jsonify(public(view)))
