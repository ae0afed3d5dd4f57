"""``python -m styletransfer.worker [--device cpu|cuda:N]`` — a Celery worker for the studio's Redis backend.

One worker per GPU. It amounts to::

    STUDIO_REDIS_URL=redis://HOST:6379/0 STYLETRANSFER_DEVICE=cuda:0 \\
        celery -A styletransfer.jobs.task worker --pool=solo --concurrency=1 --prefetch-multiplier=1 \\
        -Q styletransfer --without-gossip --without-mingle -n stylize-cuda0@%h

(the solo pool runs the job in the worker process itself: one job at a time, nothing reserved beyond it,
and killing the worker kills its job.) Limits come from the same ``STUDIO_*`` variables as the web side.
"""
from __future__ import annotations

import argparse
import os
import sys


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m styletransfer.worker", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default=os.environ.get("STYLETRANSFER_DEVICE", "auto"),
                   help="auto, cpu or cuda:N (one worker per GPU)")
    p.add_argument("--redis", default=os.environ.get("STUDIO_REDIS_URL"), help="default: $STUDIO_REDIS_URL")
    p.add_argument("--name", default=None, help="worker name (default: stylize-DEVICE@host)")
    p.add_argument("--loglevel", default="INFO")
    args = p.parse_args(argv)
    if not args.redis:
        print("error: give --redis redis://HOST:PORT/DB or set STUDIO_REDIS_URL", file=sys.stderr)
        return 2
    from .engine import pick_device
    from .limits import Limits

    try:
        device = str(pick_device(args.device))
        Limits.from_env()  # a malformed limit stops the worker here, with its one line
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if device == "cpu":
        # a CPU worker often shares its machine with the web processes: it yields to them (its OpenMP
        # threads inherit the priority), as the embedded backend's worker thread does
        os.nice(10)
    # the task module reads these when it is imported, in this process
    os.environ["STUDIO_REDIS_URL"], os.environ["STYLETRANSFER_DEVICE"] = args.redis, device
    from .jobs.task import QUEUE_NAME, celery_app

    name = args.name or f"stylize-{device.replace(':', '')}@%h"
    celery_app.worker_main(["worker", "--pool=solo", "--concurrency=1", "--prefetch-multiplier=1", "-Q", QUEUE_NAME,
                            "--without-gossip", "--without-mingle", f"--loglevel={args.loglevel}", "-n", name])
    return 0


if __name__ == "__main__":
    sys.exit(main())
