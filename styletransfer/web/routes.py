"""Flask routes beside the Dash page: the session cookie, frames, downloads, examples and the JSON API.

Frames travel as image bytes from here (never base64 through callbacks). Every job route answers 404
for a job of another session, exactly as for a job that does not exist.
"""
from __future__ import annotations

import io
import json
import os
import secrets

import dash
import flask
import itsdangerous
import werkzeug.exceptions

from .. import images
from ..backbones import is_checkpoint_path
from ..examples import EXAMPLES, example_image
from ..jobs import JobNotFound, LimitExceeded
from ..limits import Limits
from ..settings import Settings

COOKIE = "studio_session"


def session_id() -> str | None:
    """The calling browser's session id (issued by this server, verified on every request), or None
    outside a request (Dash builds the layout once at start-up to validate it)."""
    return getattr(flask.g, "studio_session", None) if flask.has_request_context() else None


def register_session(server: flask.Flask, secret: str) -> None:
    """Issue every browser a random session id in a cookie signed with ``secret``; jobs belong to it.

    Any web process that shares the secret accepts any session; an id the client made up, or changed,
    fails the signature and is never adopted: that browser gets a new session instead.
    """
    signer = itsdangerous.Signer(secret, salt="studio-session")

    @server.before_request
    def issue_session():
        cookie = flask.request.cookies.get(COOKIE, "")
        try:
            flask.g.studio_session = signer.unsign(cookie.encode()).decode() if cookie else None
        except itsdangerous.BadSignature:
            flask.g.studio_session = None
        if not flask.g.studio_session:
            flask.g.studio_session = secrets.token_urlsafe(32)
            flask.g.new_session = True

    @server.after_request
    def set_session_cookie(response):
        if getattr(flask.g, "new_session", False):
            response.set_cookie(COOKIE, signer.sign(flask.g.studio_session.encode()).decode(), httponly=True,
                                samesite="Lax", max_age=30 * 24 * 3600)
        return response


def session_secret(state_dir: str | None = None) -> str:
    """``$STUDIO_SECRET_KEY``; without it (the embedded default), one generated once and kept in a file
    only this user can read, so sessions survive a restart."""
    if os.environ.get("STUDIO_SECRET_KEY"):
        return os.environ["STUDIO_SECRET_KEY"]
    folder = state_dir or os.environ.get("STUDIO_STATE_DIR") or os.path.join(
        os.path.expanduser("~"), ".local", "share", "style-studio")
    path = os.path.join(folder, "secret")
    try:
        with open(path) as f:
            return f.read().strip()
    except FileNotFoundError:
        os.makedirs(folder, exist_ok=True)
        secret = secrets.token_urlsafe(48)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secret)
        return secret


def register(server: flask.Flask, manager, secret: str, limits: Limits, offered=lambda: []) -> None:
    """Frames, downloads, examples and the JSON API; ``offered()`` lists the checkpoint files the page offers."""
    register_session(server, secret)

    def job_or_404(fn, *args):
        try:
            value = fn(*args, session_id())
        except JobNotFound:
            flask.abort(404)
        if value is None:
            flask.abort(404)
        return value

    def no_store(response):
        response.headers["Cache-Control"] = "no-store"
        return response

    @server.route("/frames/<job_id>/latest.jpg")
    def latest_frame(job_id):
        seq, jpeg = job_or_404(manager.frame, job_id)
        response = flask.Response(jpeg, mimetype="image/jpeg")
        response.headers["X-Frame-Seq"] = str(seq)
        return no_store(response)

    @server.route("/download/<job_id>/result.png")
    def download_result(job_id):
        png = job_or_404(manager.result_png, job_id)
        return no_store(flask.send_file(io.BytesIO(png), mimetype="image/png", as_attachment=True,
                                        download_name=f"stylized-{job_id[:8]}.png"))

    @server.route("/download/<job_id>/timelapse.<fmt>")
    def download_timelapse(job_id, fmt):
        if fmt not in ("mp4", "gif"):
            flask.abort(404)
        data = job_or_404(lambda j, o: manager.timelapse(j, o, fmt), job_id)
        return no_store(flask.send_file(io.BytesIO(data), mimetype="video/mp4" if fmt == "mp4" else "image/gif",
                                        as_attachment=True, download_name=f"timelapse-{job_id[:8]}.{fmt}"))

    @server.route("/examples/<name>.jpg")
    def example_thumbnail(name):
        if name not in EXAMPLES:
            flask.abort(404)
        img = example_image(name).copy()
        img.thumbnail((160, 160))
        response = flask.Response(images.jpeg_bytes(img, quality=85), mimetype="image/jpeg")
        response.headers["Cache-Control"] = "public, max-age=86400"
        return response

    # ------------------------------------------------------------------ the JSON API (same limits and ownership)

    def api_error(message: str, status: int):
        return no_store(flask.jsonify({"error": message})), status

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

    @server.route("/api/jobs", methods=["GET"])
    def api_jobs():
        return no_store(flask.jsonify([_public(j) for j in manager.list(session_id())]))

    @server.route("/api/jobs", methods=["POST"])
    def api_submit():
        """multipart/form-data: ``content`` (one file), ``style`` (one or more), ``settings`` (a JSON object
        of :class:`Settings` fields; what is left out takes its default)."""
        try:
            content = _uploaded(flask.request.files.getlist("content"), "content", limits, single=True)[0]
            styles = _uploaded(flask.request.files.getlist("style"), "style", limits)
            raw = flask.request.form.get("settings", "{}")
            try:
                values = json.loads(raw, parse_constant=lambda c: float(c))
            except ValueError:
                return api_error("settings must be a JSON object", 400)
            if not isinstance(values, dict):
                return api_error("settings must be a JSON object", 400)
            unknown = sorted(set(values) - set(Settings.__dataclass_fields__))
            if unknown:
                return api_error(f"unknown setting {', '.join(map(repr, unknown))}", 400)
            if is_checkpoint_path(str(values.get("backbone", ""))) and values["backbone"] not in offered():
                return api_error("unknown backbone: choose a built-in one or a checkpoint the page offers", 400)
            view = manager.submit(session_id(), content, styles, Settings.from_dict(values))
        except LimitExceeded as exc:
            return api_error(str(exc), 429)
        except ValueError as exc:  # ImageError, ImageTooSmall, SettingError: one line each
            return api_error(str(exc), 400)
        response = flask.jsonify(_public(view))
        response.headers["Location"] = f"/api/jobs/{view.id}"
        return no_store(response), 201

    @server.route("/api/jobs/<job_id>", methods=["GET"])
    def api_job(job_id):
        return no_store(flask.jsonify(_public(job_or_404(manager.get, job_id))))

    @server.route("/api/jobs/<job_id>/cancel", methods=["POST"])
    def api_cancel(job_id):
        return no_store(flask.jsonify(_public(job_or_404(manager.cancel, job_id))))

    @server.route("/api/jobs/<job_id>/weights", methods=["POST"])
    def api_weights(job_id):
        """A JSON object of live weights (content_weight, style_weight, tv_weight, style_layer_weights)."""
        values = flask.request.get_json(silent=True)
        if not isinstance(values, dict) or not values:
            return api_error("send a JSON object of weights, e.g. {\"style_weight\": 100}", 400)
        try:
            view = manager.update(job_id, session_id(), **values)
        except JobNotFound:
            return api_error("no such job in this session", 404)
        except ValueError as exc:  # a bad value, a weight that cannot change live, or a finished job
            return api_error(str(exc), 409 if "can no longer change" in str(exc) else 400)
        return no_store(flask.jsonify(_public(view)))

    @server.errorhandler(Exception)
    def malformed_callback(exc):
        """Dash callbacks are public endpoints: a request the page would never send (unknown outputs, wrong
        shapes) makes Dash's dispatcher raise; that is a 400 with a message, not a 500."""
        if isinstance(exc, werkzeug.exceptions.HTTPException):
            return exc
        malformed = (dash.exceptions.DashException, KeyError, TypeError, ValueError, IndexError, AttributeError)
        if flask.request.path.endswith("/_dash-update-component") and isinstance(exc, malformed):
            server.logger.warning("refused a malformed callback request: %r", exc)
            return api_error("the request could not be handled: it is not one this page sends", 400)
        server.logger.exception("unhandled error on %s", flask.request.path)
        return werkzeug.exceptions.InternalServerError()

    @server.errorhandler(413)
    def too_large(_):
        return api_error(f"the upload is over this server's limit of {limits.max_upload_bytes / 2**20:.0f} MB a "
                         "file: save it smaller (JPEG) and try again", 413)

    @server.errorhandler(404)
    def not_found(error):
        if flask.request.path.startswith("/api/"):
            return api_error("no such job in this session", 404)
        return error


def _uploaded(files, field: str, limits: Limits, single: bool = False) -> list:
    """Multipart files -> RGB images, each checked like the page's uploads; ImageError otherwise."""
    files = [f for f in files if f and f.filename is not None]
    if not files:
        raise images.ImageError(f"add the {field} image (multipart field {field!r})")
    if single and len(files) > 1:
        raise images.ImageError(f"send one {field} image, not {len(files)}")
    out = []
    for f in files:
        data = f.read(limits.max_upload_bytes + 1)
        if len(data) > limits.max_upload_bytes:
            raise images.ImageError(f"{f.filename or field}: over the upload limit of "
                                    f"{limits.max_upload_bytes / 2**20:.0f} MB")
        out.append(images.decode_image(data, name=f.filename or field, max_pixels=limits.max_input_pixels))
    return out


def _public(view) -> dict:
    """The API's view of a job: what the page shows, without internals, and where its pieces are."""
    keys = ("id", "status", "queue_position", "iteration", "total_iterations", "scale", "scales", "size", "eta",
            "elapsed", "losses", "settings", "weights", "events", "error", "frame_seq", "frame_time", "frame_log", "frames",
            "created", "started", "finished", "device", "note", "attempt")
    values = view.to_dict()
    out = {k: values[k] for k in keys}
    base = f"/api/jobs/{view.id}"
    out["urls"] = {
        "self": base, "cancel": f"{base}/cancel", "weights": f"{base}/weights",
        "frame": f"/frames/{view.id}/latest.jpg" if view.frame_seq else None,
        "result": f"/download/{view.id}/result.png" if view.has_result else None,
        "timelapse": f"/download/{view.id}/timelapse.mp4" if view.frames else None,
        "timelapse_gif": f"/download/{view.id}/timelapse.gif" if view.frames else None,
    }
    return out
