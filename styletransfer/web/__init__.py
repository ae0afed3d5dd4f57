"""The web layer, which only wires: page, callbacks, sessions, routes, the JSON API and /quick over ``jobs.Jobs``."""
from __future__ import annotations

import os
import threading

import dash
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.middleware.proxy_fix import ProxyFix

from ..backbones import min_input_side
from ..config import Config
from ..engine import default_iterations
from ..jobs import Jobs, make_jobs
from ..jobs.model import UNAVAILABLE
from ..settings import Settings
from . import api, callbacks, errors, inputs, ops, routes, security
from .layout import build_layout, offered_sizes
from .sessions import NewSessions, session_id, stored_secret

ASSETS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "assets")  # package data: served from any folder
UNAVAILABLE_NOTICE = "The job service is unavailable for a moment; your jobs are kept. Reload in a little while."


def create_app(config: Config | None = None, jobs: Jobs | None = None, quick: bool = True,
               secret: str | None = None) -> dash.Dash:
    """The studio over a job backend, /quick mounted; ``config`` chooses the backend, limits and secret."""
    config = config or Config()
    limits = jobs.limits if jobs is not None else config.limits
    if config.redis_url and not (secret or config.secret_key):
        raise ValueError("STUDIO_REDIS_URL is set but STUDIO_SECRET_KEY is not: set it, the same in every web "
                         "process, so that any of them accepts any session")
    secret = secret or config.secret_key or stored_secret(config.state_dir)
    jobs = jobs or make_jobs(limits, config.redis_url)
    app = dash.Dash(
        __name__, title="Style Transfer Studio", assets_folder=ASSETS, serve_locally=True,
        update_title=None,  # no "Updating..." flicker in the tab title on every poll
        compress=True,      # flask-compress: the page's JavaScript is most of its first load
    )
    # the JSON API's jobs carry a photo and up to max_styles paintings; the page sends one file at a time
    app.server.config["MAX_CONTENT_LENGTH"] = limits.max_request_bytes(1 + limits.max_styles)
    # the JSON API's form: a photo, the paintings and the settings; a field other than a file stays small
    app.server.config["MAX_FORM_PARTS"] = limits.max_styles + 4
    # (twice the settings' own limit, which parse_json names: Werkzeug's multipart decoder applies this one
    # to its 64-KB read buffer as well, so at the settings' size every file over 64 KB was refused)
    app.server.config["MAX_FORM_MEMORY_SIZE"] = 2 * inputs.MAX_JSON_BYTES
    app.layout = _page(jobs, limits, config.models_dir)
    # one counter of new sessions for the studio and /quick; in Redis, shared by every web process
    new_sessions = NewSessions(limits.max_new_sessions_per_minute, config.redis_url or "memory://")
    security.register_sessions(app.server, secret, config.public_url, new_sessions)
    routes.register(app.server, jobs)
    api.register(app.server, jobs, limits, config.models_dir)
    errors.register(app.server, limits)
    ops.register(app.server, jobs, config.metrics_dir)
    callbacks.register(app, jobs, limits, config.models_dir)
    if quick:
        from .quick import build_quick

        # /quick is fast-dash's own Flask app, mounted inside the studio's: one server, one port,
        # and `app.server` stays the single WSGI entry point for gunicorn.
        app.quick = build_quick(jobs, limits, secret, new_sessions, config.public_url)
        app.server.wsgi_app = DispatcherMiddleware(app.server.wsgi_app, {"/quick": app.quick.server})
    if config.trusted_proxies:
        # the client is the address the trusted proxies forwarded: only the last N hops they appended count,
        # so a client cannot choose its own address by sending X-Forwarded-For itself
        app.server.wsgi_app = ProxyFix(app.server.wsgi_app, x_for=config.trusted_proxies)
    # inside the headers, outside both Dash apps: a callback body is bounded before either parses it
    app.server.wsgi_app = security.CallbackBodyLimit(app.server.wsgi_app, security.CALLBACK_MAX_BYTES)
    for dash_app in (app, app.quick.app) if quick else (app,):
        set_up_before_any_request_is_served(dash_app)
    hashes = app.csp_hashes() + (app.quick.app.csp_hashes() if quick else [])
    app.server.wsgi_app = security.SecurityHeaders(app.server.wsgi_app, hashes)
    # The first shape check builds the default backbone's architecture (no weights; a few tenths of a
    # second, once): done here, so no person's first upload waits for it.
    min_input_side(Settings().backbone)
    app.studio_jobs = jobs
    return app


def set_up_before_any_request_is_served(dash_app: dash.Dash) -> None:
    """Make Dash's first-request set-up finish before any other request is served."""
    lock = threading.Lock()
    original = dash_app._setup_server

    def setup_server():
        with lock:
            original()

    hooks = dash_app.server.before_request_funcs.setdefault(None, [])
    if original not in hooks:
        raise RuntimeError("Dash no longer sets itself up in a before_request hook: see web/__init__.py")
    hooks[hooks.index(original)] = setup_server


def _page(jobs: Jobs, limits, models_dir: str | None):
    """The layout as a function of the session's latest job and the checkpoints in ``models_dir`` now."""
    sizes, prints = offered_sizes(limits)
    default_size = 512 if 512 in sizes else sizes[-1]

    def layout():
        notice = None
        try:
            device = jobs.devices[0]
            owner = session_id()
            views = jobs.list(owner) if owner else []
        except UNAVAILABLE:  # Redis away: the page still loads, and says so
            device, views, notice = "cpu", [], UNAVAILABLE_NOTICE
        iterations = min(default_iterations(device), limits.max_iterations)
        return build_layout(sizes, default_size, iterations, min(max(iterations * 4, 100), limits.max_iterations),
                            models_dir, current_job=views[-1].id if views else None,
                            max_upload_bytes=limits.max_upload_bytes, jobs=views, notice=notice,
                            print_sizes=prints)

    return layout
