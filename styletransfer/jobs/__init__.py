"""The job layer: one service (``service.Jobs``: every rule, once) over a store and an executor, one job
loop, no Dash.

* ``service`` — :class:`Jobs`, and what its two parts must do (:class:`~.service.JobStore`,
  :class:`~.service.Executor`);
* ``model`` — statuses, errors, the typed :class:`JobView`, the one-line failure messages;
* ``admission`` — a submission checked against every rule and limit, its settings resolved once;
* ``progress`` — the engine's progress as a job's updates (previews, losses, the time-lapse);
* ``speed`` — the time model of this backend's devices (calibrated, corrected by every ended job), for
  the estimate before Start;
* ``runloop`` — the one job loop both executors run, each through its own sink;
* ``local`` — :class:`LocalJobs`, the embedded default: jobs in memory, worker threads in this process;
* ``redis_backend`` (``redis_store``, ``celery_app``, and the worker's ``runner``, ``watchdog``,
  ``worker_app``) — :class:`~.redis_backend.RedisJobs`: jobs in Redis, run by Celery workers
  (``python -m styletransfer.worker``).
"""
from .admission import admit
from .local import LocalJobs
from .model import (DONE, FAILED, FINISHED, QUEUED, RUNNING, STOPPED, JobNotFound, JobView, LimitExceeded,
                    NotChangeable, OverCapacity, ServiceUnavailable, Status, user_message)
from .progress import FrameHistory
from .service import Jobs

__all__ = ["DONE", "FAILED", "FINISHED", "QUEUED", "RUNNING", "STOPPED", "FrameHistory", "Jobs", "JobNotFound",
           "JobView", "LimitExceeded", "LocalJobs", "NotChangeable", "OverCapacity", "ServiceUnavailable", "Status",
           "admit", "make_jobs", "user_message"]


def make_jobs(limits, redis_url: str | None = None) -> Jobs:
    """The job service for this configuration, started: over Redis + Celery when ``redis_url`` is given, else
    embedded."""
    if redis_url:
        from .redis_backend import RedisJobs  # Celery and redis are imported only where they are used

        return RedisJobs(redis_url, limits)
    return LocalJobs(limits=limits)
