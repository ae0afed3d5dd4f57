"""Security headers, the same-origin check and the callback body cap (docs/security.md)."""
from __future__ import annotations

import io
import json
import urllib.parse

import flask

from .api import api_error
from .sessions import NewSessions, register_session

STATE_CHANGING = ("POST", "PUT", "PATCH", "DELETE")
CALLBACK_MAX_BYTES = 256 * 1024  # the largest callback the pages send is a few KB


def policy(script_hashes: list[str]) -> str:
    """The Content-Security-Policy: everything from here, inline scripts only by hash, no framing."""
    scripts = " ".join(["'self'", *sorted(set(script_hashes))])
    return ("default-src 'self'; "
            f"script-src {scripts}; "
            "style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data: blob:; "
            "font-src 'self' data:; "
            "connect-src 'self'; "
            "media-src 'self' blob:; "
            "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'")


class SecurityHeaders:
    """WSGI middleware around the whole studio (/quick included): the headers on every response."""

    def __init__(self, app, script_hashes: list[str]):
        self.app = app
        self.headers = [("Content-Security-Policy", policy(script_hashes)), ("X-Frame-Options", "DENY"),
                        ("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "same-origin")]

    def __call__(self, environ, start_response):
        def start(status, headers, exc_info=None):
            names = {name.lower() for name, _ in headers}
            headers = [h for h in headers if h[0].lower() != "server"] + [
                h for h in self.headers if h[0].lower() not in names]
            return start_response(status, headers, exc_info)

        return self.app(environ, start)


class CallbackBodyLimit:
    """WSGI middleware: a callback body over ``max_bytes`` or ``max_values`` refused with 413 as it streams."""

    CHUNK = 64 * 1024

    def __init__(self, app, max_bytes: int, max_values: int = 20_000):
        self.app, self.max_bytes, self.max_values = app, max_bytes, max_values

    def __call__(self, environ, start_response):
        callback = environ.get("PATH_INFO", "").endswith("/_dash-update-component")
        if environ.get("REQUEST_METHOD") != "POST" or not callback:
            return self.app(environ, start_response)
        length = environ.get("CONTENT_LENGTH")
        length = int(length) if length and length.isdigit() else None
        if length is not None and length > self.max_bytes:
            return self._refuse(start_response, self._over_size)
        refused = self._read_body(environ, length)
        return self._refuse(start_response, refused) if refused else self.app(environ, start_response)

    def _read_body(self, environ, length: int | None) -> str | None:
        """Read the body into memory for Dash, counting; why it is refused, or None."""
        stream, body, values, remaining = environ["wsgi.input"], io.BytesIO(), 0, length
        while remaining is None or remaining > 0:
            chunk = stream.read(self.CHUNK if remaining is None else min(self.CHUNK, remaining))
            if not chunk:
                break
            if remaining is not None:
                remaining -= len(chunk)
            values += chunk.count(b",") + chunk.count(b"[") + chunk.count(b"{")
            if values > self.max_values:
                return f"more than {self.max_values:,} values: not a request this page sends"
            if body.tell() + len(chunk) > self.max_bytes:
                return self._over_size
            body.write(chunk)
        environ["CONTENT_LENGTH"] = str(body.tell())
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        environ["wsgi.input_terminated"] = False
        body.seek(0)
        environ["wsgi.input"] = body
        return None

    @property
    def _over_size(self) -> str:
        return f"over this server's limit of {self.max_bytes // 1024} KB for what the page sends"

    def _refuse(self, start_response, why: str):
        return self._answer(start_response, "413 Request Entity Too Large", f"the request is {why}",
                            [("Connection", "close")])

    @staticmethod
    def _answer(start_response, status: str, message: str, headers: list):
        payload = json.dumps({"error": message}).encode()
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(payload))),
                                *headers])
        return [payload]


def same_origin(origin: str, public_url: str | None) -> bool:
    """Whether a browser's ``Origin`` is this server (``STUDIO_PUBLIC_URL``'s origin, else the request's host)."""
    if public_url:
        return origin == public_url.rstrip("/")
    return urllib.parse.urlsplit(origin).netloc == flask.request.host


def register_sessions(server: flask.Flask, secret: str, public_url: str | None, new_sessions: NewSessions) -> None:
    """On ``server``: the origin check first (a refused request issues no session), then the signed cookie."""
    register_origin_check(server, public_url)
    register_session(server, secret, new_sessions, secure=bool(public_url and public_url.startswith("https://")))


def register_origin_check(server: flask.Flask, public_url: str | None) -> None:
    """403 for a state-changing request a browser says comes from another origin."""

    @server.before_request
    def same_origin_only():
        if flask.request.method not in STATE_CHANGING:
            return None
        origin = flask.request.headers.get("Origin")
        fetch_site = flask.request.headers.get("Sec-Fetch-Site")
        if (origin is not None and not same_origin(origin, public_url)) or fetch_site in ("cross-site", "same-site"):
            # an operator behind a proxy that rewrites Host sees every POST refused: the log says why
            server.logger.warning("refused %s %s from origin %s (this server: %s); behind a proxy, set "
                                  "STUDIO_PUBLIC_URL to the address browsers use", flask.request.method,
                                  flask.request.path, origin or fetch_site, public_url or flask.request.host)
            return api_error("refused: this request comes from another site", 403)
        return None
