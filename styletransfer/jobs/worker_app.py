"""A worker process's Celery app: the task on one device, calibration and the watchdog at start, hand-back
at SIGTERM."""
from __future__ import annotations

import logging
import os
import socket

from celery import Celery, signals

from ..limits import Limits
from .celery_app import TASK_NAME, make_celery, send
from .redis_store import QUEUE, SPEED_KEY, WORKER_PREFIX, connect, replace_own
from .runner import JobRunner
from .speed import calibrate_into
from .watchdog import Watchdog

log = logging.getLogger(__name__)


def make_worker_app(redis_url: str, limits: Limits, device: str) -> Celery:
    """The Celery app of a worker on ``device``: the task, and at start the watchdog and calibration."""
    app = make_celery(redis_url, limits)
    runner = JobRunner(redis_url, limits, device, lambda job_id, attempt: send(app, job_id, attempt))
    # its own client, failing fast: it must see an outage, to give running jobs time to beat again after it
    watchdog = Watchdog(connect(redis_url), limits, runner.send, presence=device)

    @app.task(name=TASK_NAME, acks_late=True, ignore_result=True)
    def run_job_task(job_id: str, attempt: int = 1) -> str:
        return runner.run(job_id, attempt)

    def on_ready(**_):
        if not runner.r.exists(SPEED_KEY):  # the page's first estimate: measured here, once
            def keep(meter, ours) -> bool:
                value = meter.to_json()
                return bool(runner.r.set(SPEED_KEY, value, nx=True) if ours is None
                            else replace_own(runner.r, SPEED_KEY, ours.to_json(), value))

            # given up when a job waits (it measures by ending: a worker's start stays short) or at a SIGTERM
            # (a stopping worker's grace period is not spent measuring)
            calibrate_into(device, keep, lambda: runner.draining.is_set() or runner.r.zcard(QUEUE) > 0,
                           limits.max_size)
        if not runner.draining.is_set():
            watchdog.start()  # announces this worker (and its device, for the page's defaults) every round

    def on_stopping(**_):
        # SIGTERM (a deploy, a scale-down): the job in hand goes back to the queue at its next iteration,
        # then Celery's warm shutdown finds nothing running and the process exits
        runner.draining.set()
        runner.outage.give_up_after(limits.worker_stop_s)  # Redis away: exit within the grace period regardless

    def on_shutdown(**_):
        watchdog.stop()
        try:  # with the watchdog's fail-fast client: a worker stopping while Redis is away does not wait for it
            watchdog.r.delete(f"{WORKER_PREFIX}{socket.gethostname()}:{os.getpid()}")
        except Exception:  # noqa: BLE001 — its presence key expires on its own
            log.warning("could not remove this worker's presence key; it expires by itself")

    signals.worker_ready.connect(on_ready, weak=False)
    signals.worker_shutting_down.connect(on_stopping, weak=False)
    signals.worker_shutdown.connect(on_shutdown, weak=False)
    return app
