"""What a browser needs from a public service, for every response of the studio and /quick: a Content-Security-
Policy the pages work under (Dash's few inline scripts allowed by their hashes, nothing from elsewhere), no
framing by other sites, no MIME sniffing, a same-origin referrer; and state-changing requests from another
origin refused before they reach a session (so a cross-site form can neither act in a session nor replace
its cookie)."""
from __future__ import annotations

import urllib.parse

import flask

from .api import api_error
from .sessions import NewSessions, register_session

STATE_CHANGING = ("POST", "PUT", "PATCH", "DELETE")


def policy(script_hashes: list[str]) -> str:
    """The Content-Security-Policy: scripts from here and the pages' own inline scripts (by hash); styles
    from here and inline (Plotly and the components set them from script); images from here and the data:
    and blob: URLs the previews use; no plugins, no framing, forms posted only here."""
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


def same_origin(origin: str, public_url: str | None) -> bool:
    """Whether a browser's ``Origin`` is this server: ``STUDIO_PUBLIC_URL``'s origin when set (behind a
    proxy), else the host the request was sent to (the scheme is left out: a proxy that ends TLS forwards
    plain HTTP)."""
    if public_url:
        return origin == public_url.rstrip("/")
    return urllib.parse.urlsplit(origin).netloc == flask.request.host


def register_sessions(server: flask.Flask, secret: str, public_url: str | None, new_sessions: NewSessions) -> None:
    """Sessions only this site can use, on ``server``: the origin check first — a refused request must not
    issue (and set) a new session —, then the signed session cookie, ``Secure`` behind an https address."""
    register_origin_check(server, public_url)
    register_session(server, secret, new_sessions, secure=bool(public_url and public_url.startswith("https://")))


def register_origin_check(server: flask.Flask, public_url: str | None) -> None:
    """Refuse (403) a state-changing request that a browser says comes from another origin. Requests that
    carry no Origin (curl, scripts, a same-origin GET) are not a browser acting for another site."""

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
