"""Routes beside the Dash page: frames, downloads, example thumbnails; another session's job is a 404."""
from __future__ import annotations

import io

import flask

from .. import images
from ..examples import EXAMPLES, example_image
from ..jobs import Jobs, JobNotFound
from ..jobs.progress import TIMELAPSE_FORMATS
from .sessions import session_id


def no_store(response):
    response.headers["Cache-Control"] = "no-store"
    return response


def job_or_404(fn, *args):
    """``fn(*args, session)``, or 404 when the job is not this session's or has nothing to give."""
    try:
        value = fn(*args, session_id())
    except JobNotFound:
        flask.abort(404)
    if value is None:
        flask.abort(404)
    return value


def register(server: flask.Flask, jobs: Jobs) -> None:
    @server.route("/frames/<job_id>/latest.jpg")
    def latest_frame(job_id):
        seq, jpeg = job_or_404(jobs.frame, job_id)
        response = flask.Response(jpeg, mimetype="image/jpeg")
        response.headers["X-Frame-Seq"] = str(seq)
        return no_store(response)

    @server.route("/download/<job_id>/result.png")
    def download_result(job_id):
        png = job_or_404(jobs.result_png, job_id)
        return no_store(flask.send_file(io.BytesIO(png), mimetype="image/png", as_attachment=True,
                                        download_name=f"stylized-{job_id[:8]}.png"))

    @server.route("/download/<job_id>/timelapse.<fmt>")
    def download_timelapse(job_id, fmt):
        if fmt not in TIMELAPSE_FORMATS:
            flask.abort(404)
        data = job_or_404(lambda j, o: jobs.timelapse(j, o, fmt), job_id)
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
