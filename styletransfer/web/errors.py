"""Answers to what goes wrong: a bad request is a 400 with a message, a bug a logged 500 with one plain line."""
from __future__ import annotations

import dash
import flask
import werkzeug.exceptions

from ..jobs.model import UNAVAILABLE
from ..limits import Limits
from .api import api_error
from .inputs import MAX_JSON_BYTES
from .ops import BACKEND_ERRORS

BUG_MESSAGE = "Something went wrong on the server; it has been logged. Try again, or reload the page."
# what Dash's dispatcher raises on a callback request that names outputs, inputs or shapes the page has not
MALFORMED = (dash.exceptions.DashException, KeyError, TypeError, ValueError, IndexError, AttributeError,
             RecursionError)  # JSON nested deeper than the parser goes


def register(server: flask.Flask, limits: Limits) -> None:
    @server.errorhandler(Exception)
    def unhandled(exc):
        if isinstance(exc, werkzeug.exceptions.HTTPException):
            return exc
        if UNAVAILABLE and isinstance(exc, UNAVAILABLE):  # Redis away: said plainly, counted, logged once
            BACKEND_ERRORS.inc()
            server.logger.warning("the job backend does not answer on %s: %r", flask.request.path, exc)
            response, status = api_error("the job service is unavailable for a moment; your jobs are kept: "
                                         "try again shortly", 503)
            response.headers["Retry-After"] = "5"
            return response, status
        if flask.request.path.startswith("/_dash-component-suites/") and isinstance(exc, MALFORMED + (OSError,)):
            return api_error("no such file", 404)  # a made-up path: nothing to log
        in_callback = getattr(flask.g, "studio_callback", None)
        if (flask.request.path.endswith("/_dash-update-component") and in_callback is None
                and isinstance(exc, MALFORMED)):
            # briefly: Dash's message quotes what the request named, which may be megabytes
            said = exc.args[0] if exc.args and isinstance(exc.args[0], str) else str(exc)
            server.logger.warning("refused a malformed callback request: %s: %s", type(exc).__name__, said[:200])
            return api_error("the request could not be handled: it is not one this page sends", 400)
        where = f"callback {in_callback}" if in_callback else flask.request.path
        server.logger.error("unhandled error in %s", where, exc_info=exc)
        if flask.request.path.startswith("/api/") or flask.request.path.endswith("/_dash-update-component"):
            return api_error(BUG_MESSAGE, 500)
        return werkzeug.exceptions.InternalServerError()

    @server.errorhandler(413)
    def too_large(_):
        length, cap = flask.request.content_length, server.config.get("MAX_CONTENT_LENGTH")
        if length is None or cap is None or length > cap:  # the whole request (a chunked one as it streamed)
            return api_error(f"the upload is over this server's limit of {limits.max_upload_bytes / 2**20:.0f} MB a "
                             f"file ({(cap or 0) / 2**20:.0f} MB a request): save it smaller (JPEG) and try again", 413)
        return api_error(f"a form field is over this server's limit ({MAX_JSON_BYTES // 1024} KB for the settings, "
                         f"{server.config['MAX_FORM_PARTS']} parts in all)", 413)

    @server.errorhandler(404)
    def not_found(error):
        if flask.request.path.startswith("/api/"):
            return api_error("no such job in this session", 404)
        return error
