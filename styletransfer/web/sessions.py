"""Browser sessions: a random id in a signed cookie, issued when a request needs one, rate-limited per client."""
from __future__ import annotations

import logging
import os
import secrets
import tempfile

import flask
import itsdangerous
import limits
import limits.storage
import limits.strategies
import werkzeug.exceptions

log = logging.getLogger(__name__)

COOKIE = "studio_session"

__all__ = ["COOKIE", "NewSessions", "client_address", "register_session", "session_id", "stored_secret"]


def session_id() -> str | None:
    """The caller's verified session id (a new one if none), or None outside a request; over the rate, a 429."""
    if not flask.has_request_context():
        return None
    if "studio_session" not in flask.g:  # read once a request, when first needed
        signer, new_sessions = flask.current_app.extensions["studio_sessions"]
        cookie = flask.request.cookies.get(COOKIE, "")
        try:
            flask.g.studio_session = signer.unsign(cookie.encode()).decode() if cookie else None
        except itsdangerous.BadSignature:
            flask.g.studio_session = None
        if flask.g.studio_session is None:
            flask.g.studio_session = new_sessions.issue(client_address())
            flask.g.new_session = True
    return flask.g.studio_session


class NewSessions:
    """Issues session ids, at most ``per_minute`` per client address, counted in ``storage_uri``."""

    def __init__(self, per_minute: int, storage_uri: str = "memory://"):
        self.per_minute = per_minute
        self.item = limits.RateLimitItemPerMinute(per_minute)
        # on Redis, a count that cannot be made in 2 s is skipped (issue() says so), not waited for
        options = {"socket_timeout": 2, "socket_connect_timeout": 2} if storage_uri.startswith("redis") else {}
        self.limiter = limits.strategies.MovingWindowRateLimiter(
            limits.storage.storage_from_string(storage_uri, **options))

    def issue(self, client: str | None) -> str:
        try:
            allowed = self.limiter.hit(self.item, "studio-new-session", client or "unknown")
        except Exception as exc:  # noqa: BLE001 — the counter's Redis away: sessions are still issued, the log says so
            log.warning("the new-session rate limit could not be counted (%s); session issued", type(exc).__name__)
            allowed = True
        if not allowed:
            response = flask.jsonify({"error": f"too many new sessions from your address (the limit is "
                                               f"{self.per_minute} a minute): keep your cookies, or wait a minute"})
            response.status_code = 429
            response.headers["Retry-After"] = "60"
            raise werkzeug.exceptions.TooManyRequests(response=response)
        return secrets.token_urlsafe(32)


def client_address() -> str | None:
    """The client's address (behind trusted proxies, the one they forwarded), or None outside a request."""
    return flask.request.remote_addr if flask.has_request_context() else None


def register_session(server: flask.Flask, secret: str, new_sessions: NewSessions, secure: bool = False) -> None:
    """Sessions in a cookie signed with ``secret``; ``secure``: HTTPS only."""
    signer = itsdangerous.Signer(secret, salt="studio-session")
    server.extensions["studio_sessions"] = (signer, new_sessions)

    @server.after_request
    def set_session_cookie(response):
        if getattr(flask.g, "new_session", False):
            response.set_cookie(COOKIE, signer.sign(flask.g.studio_session.encode()).decode(), httponly=True,
                                samesite="Lax", max_age=30 * 24 * 3600, secure=secure)
        return response


def stored_secret(state_dir: str) -> str:
    """A secret generated once and kept in a file only this user can read."""
    path = os.path.join(state_dir, "secret")
    try:
        with open(path) as f:
            return f.read().strip()
    except FileNotFoundError:
        pass
    # several processes (gunicorn's workers) may start on a fresh state dir at once: each writes a whole
    # file aside and links it into place, which never replaces one; the first wins and every one reads it
    os.makedirs(state_dir, exist_ok=True)
    fd, candidate = tempfile.mkstemp(dir=state_dir, prefix=".secret-")  # only this user can read it
    try:
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(48))
        try:
            os.link(candidate, path)
        except FileExistsError:
            pass
    finally:
        os.unlink(candidate)
    with open(path) as f:
        return f.read().strip()
