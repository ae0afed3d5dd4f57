"""``python -m styletransfer.worker [--device cpu|cuda:N]`` — a Celery worker for the studio's Redis backend.

One worker per GPU. It runs the Celery app that ``jobs.task.make_worker_app`` builds from these options
(Redis URL, device, limits from the same ``STUDIO_*`` variables as the web side), like::

    celery worker --pool=solo --concurrency=1 --prefetch-multiplier=1 -Q styletransfer \\
        --without-gossip --without-mingle -n stylize-cuda0@%h

(the solo pool runs the job in the worker process itself: one job at a time, nothing reserved beyond it,
and killing the worker kills its job.)
"""
from __future__ import annotations

import argparse
import os
import sys

from .config import Config


def main(argv: list[str] | None = None) -> int:
    try:
        config = Config.from_env()
    except ValueError as exc:  # a malformed limit stops the worker here, with its one line
        print(f"error: {exc}", file=sys.stderr)
        return 2
    p = argparse.ArgumentParser(prog="python -m styletransfer.worker", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default=config.device, help="auto, cpu or cuda:N (one worker per GPU); "
                   "default: $STYLETRANSFER_DEVICE, else auto")
    p.add_argument("--redis", default=config.redis_url, help="default: $STUDIO_REDIS_URL")
    p.add_argument("--name", default=None, help="worker name (default: stylize-DEVICE@host)")
    p.add_argument("--loglevel", default="INFO")
    args = p.parse_args(argv)
    if not args.redis:
        print("error: give --redis redis://HOST:PORT/DB or set STUDIO_REDIS_URL", file=sys.stderr)
        return 2
    from .engine import pick_device

    try:
        device = str(pick_device(args.device))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if device == "cpu":
        # a CPU worker often shares its machine with the web processes: it yields to them (its OpenMP
        # threads inherit the priority), as the embedded backend's worker thread does
        os.nice(10)
    from .jobs.task import QUEUE_NAME, make_worker_app

    app = make_worker_app(args.redis, config.limits, device)
    name = args.name or f"stylize-{device.replace(':', '')}@%h"
    app.worker_main(["worker", "--pool=solo", "--concurrency=1", "--prefetch-multiplier=1", "-Q", QUEUE_NAME,
                     "--without-gossip", "--without-mingle", f"--loglevel={args.loglevel}", "-n", name])
    return 0


if __name__ == "__main__":
    sys.exit(main())
