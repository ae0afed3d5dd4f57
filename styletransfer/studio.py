"""``style-studio`` / ``python app.py``: the studio's server, and ``wsgi_app()`` for gunicorn."""
from __future__ import annotations

import sys

from werkzeug.serving import WSGIRequestHandler

from . import web
from .config import Config


def wsgi_app():
    """The studio's WSGI app, configured from the environment, its job backend started."""
    return web.create_app(Config.from_env()).server


class _RequestHandler(WSGIRequestHandler):
    def version_string(self) -> str:  # no server or Python version in the Server header
        return "style-studio"


def main() -> int:
    try:
        config = Config.from_env()
        studio = web.create_app(config)
    except ValueError as exc:  # a malformed variable, or Redis without a secret: one line
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"Style Transfer Studio on http://{config.host}:{config.port}/ (device: {studio.studio_jobs.devices[0]})",
          flush=True)
    try:
        studio.run(host=config.host, port=config.port, debug=False, threaded=True, request_handler=_RequestHandler)
    finally:
        studio.studio_jobs.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
