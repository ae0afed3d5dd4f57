"""The studio: a Dash page (layout.py), its callbacks (callbacks.py) and Flask routes (routes.py)."""
from __future__ import annotations

import os

import dash
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from ..engine import default_iterations
from ..jobs import make_jobs
from ..backbones import list_checkpoints, min_input_side
from ..limits import Limits
from ..settings import Settings
from . import callbacks, routes
from .layout import build_layout

ASSETS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "assets")
SIZES = (256, 384, 512, 768, 1024, 1536, 2048)


def create_app(manager=None, limits: Limits | None = None, quick: bool = True,
               models_dir: str | None = None, redis_url: str | None = None, secret: str | None = None) -> dash.Dash:
    """Build the studio around a job backend, with /quick mounted.

    Without ``manager``: the Redis + Celery backend when ``redis_url`` (default ``$STUDIO_REDIS_URL``) is
    set, else the embedded one. ``limits`` default to the manager's, else :meth:`Limits.from_env` (the one
    place they are read). ``models_dir`` (default ``$STUDIO_MODELS_DIR``): the folder whose checkpoints the
    backbone menu offers. ``secret`` (default ``$STUDIO_SECRET_KEY``) signs session ids; the Redis backend
    needs it set, the same in every web process.
    """
    models_dir = models_dir if models_dir is not None else os.environ.get("STUDIO_MODELS_DIR")
    redis_url = redis_url if redis_url is not None else os.environ.get("STUDIO_REDIS_URL")
    limits = limits or (manager.limits if manager else Limits.from_env())
    if redis_url and not (secret or os.environ.get("STUDIO_SECRET_KEY")):
        raise ValueError("STUDIO_REDIS_URL is set but STUDIO_SECRET_KEY is not: set it, the same in every web "
                         "process, so that any of them accepts any session")
    secret = secret or routes.session_secret()
    manager = manager or make_jobs(limits, redis_url)
    device = manager.devices[0]
    app = dash.Dash(
        __name__, title="Style Transfer Studio", assets_folder=ASSETS, serve_locally=True,
        update_title=None,  # no "Updating..." flicker in the tab title on every poll
        compress=True,      # flask-compress: the page's JavaScript is most of its first load
    )
    # Start sends up to three uploads (photo, two paintings) in one callback
    app.server.config["MAX_CONTENT_LENGTH"] = limits.max_request_bytes(3)
    sizes = [s for s in SIZES if s <= min(limits.max_size, Settings.__dataclass_fields__["size"].metadata["high"])]
    sizes = sizes or [limits.max_size]
    default_size = 512 if 512 in sizes else sizes[-1]
    iterations = min(default_iterations(device), limits.max_iterations)
    # a function: each page load lists the checkpoints in models_dir as they are now
    def layout():
        owner = routes.session_id()
        jobs = manager.list(owner) if owner else []
        return build_layout(sizes, default_size, iterations, min(max(iterations * 4, 100), limits.max_iterations),
                            models_dir, current_job=jobs[-1].id if jobs else None,
                            max_upload_bytes=limits.max_upload_bytes, jobs=jobs)

    app.layout = layout
    routes.register(app.server, manager, secret, limits, offered=lambda: list_checkpoints(models_dir))
    callbacks.register(app, manager, limits, models_dir)
    if quick:
        from .quick import build_quick

        # /quick is fast-dash's own Flask app, mounted inside the studio's: one server, one port,
        # and `app.server` stays the single WSGI entry point for gunicorn.
        app.quick = build_quick(manager, limits, secret)
        app.server.wsgi_app = DispatcherMiddleware(app.server.wsgi_app, {"/quick": app.quick.server})
    # The first shape check builds the default backbone's architecture (no weights; a few tenths of a
    # second, once): done here, so no person's first upload waits for it.
    min_input_side(Settings().backbone)
    app.studio_manager = manager
    return app
