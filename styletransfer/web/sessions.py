"""Browser sessions: a random id in a cookie signed with the server's secret; jobs belong to it."""
from __future__ import annotations

import os
import secrets

import flask
import itsdangerous

COOKIE = "studio_session"

__all__ = ["COOKIE", "register_session", "session_id", "stored_secret"]


def session_id() -> str | None:
    """The calling browser's session id (issued by this server, verified on every request), or None
    outside a request (Dash builds the layout once at start-up to validate it)."""
    return getattr(flask.g, "studio_session", None) if flask.has_request_context() else None


def register_session(server: flask.Flask, secret: str, secure: bool = False) -> None:
    """Issue every browser a random session id in a cookie signed with ``secret``.

    Any web process that shares the secret accepts any session; an id the client made up, or changed,
    fails the signature and is never adopted: that browser gets a new session instead. ``secure``: the
    cookie travels over HTTPS only (a deployment behind TLS).
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
                                samesite="Lax", max_age=30 * 24 * 3600, secure=secure)
        return response


def stored_secret(state_dir: str) -> str:
    """The embedded default's secret when none is configured: generated once and kept in a file only this
    user can read, so sessions survive a restart."""
    path = os.path.join(state_dir, "secret")
    try:
        with open(path) as f:
            return f.read().strip()
    except FileNotFoundError:
        os.makedirs(state_dir, exist_ok=True)
        secret = secrets.token_urlsafe(48)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secret)
        return secret
