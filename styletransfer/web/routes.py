"""Flask routes beside the Dash page: the session cookie, frames, downloads, examples and the JSON API.

Frames travel as image bytes from here (never base64 through callbacks). Every job route answers 404
for a job of another session, exactly as for a job that does not exist.
"""
from __future__ import annotations

import io
import os
import secrets

import flask
import itsdangerous

from ..examples import EXAMPLES, example_image
from ..jobs import JobManager, JobNotFound

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


def register(server: flask.Flask, manager: JobManager, secret: str) -> None:
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

    @server.route("/download/<job_id>/timelapse.gif")
    def download_timelapse(job_id):
        gif = job_or_404(manager.timelapse, job_id)
        return no_store(flask.send_file(io.BytesIO(gif), mimetype="image/gif", as_attachment=True,
                                        download_name=f"timelapse-{job_id[:8]}.gif"))

    @server.route("/examples/<name>.jpg")
    def example_thumbnail(name):
        if name not in EXAMPLES:
            flask.abort(404)
        img = example_image(name).copy()
        img.thumbnail((160, 160))
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=85)
        response = flask.Response(buf.getvalue(), mimetype="image/jpeg")
        response.headers["Cache-Control"] = "public, max-age=86400"
        return response

    @server.route("/api/jobs")
    def api_jobs():
        return no_store(flask.jsonify([_public(j) for j in manager.list(session_id())]))

    @server.route("/api/jobs/<job_id>")
    def api_job(job_id):
        return no_store(flask.jsonify(_public(job_or_404(manager.get, job_id))))

    @server.route("/api/jobs/<job_id>/cancel", methods=["POST"])
    def api_cancel(job_id):
        return no_store(flask.jsonify(_public(job_or_404(manager.cancel, job_id))))

    @server.errorhandler(413)
    def too_large(_):
        return flask.jsonify({"error": "upload too large for this server"}), 413

    @server.errorhandler(404)
    def not_found(error):
        if flask.request.path.startswith("/api/"):
            return flask.jsonify({"error": "no such job in this session"}), 404
        return error


def _public(view: dict) -> dict:
    """The API's view of a job: what the page shows, without internals."""
    keys = ("id", "status", "queue_position", "iteration", "total_iterations", "scale", "scales", "size", "eta",
            "elapsed", "losses", "settings", "weights", "events", "error", "frame_seq", "frame_time", "frame_log", "frames",
            "created", "started", "finished", "device", "note", "attempt")
    values = view.to_dict()
    return {k: values[k] for k in keys}
