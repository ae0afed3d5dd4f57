"""The job layer, which knows nothing of Dash: one service over a store and an executor, one job loop.

* ``service`` — :class:`Jobs` (every rule, once), :class:`~.service.JobStore`, :class:`~.service.Executor`;
* ``model`` — statuses, errors, :class:`JobView`; ``admission`` — rules and limits, settings resolved;
* ``progress`` — previews and time-lapse; ``speed`` — the time model; ``runloop`` — the one job loop;
* ``local`` — :class:`LocalJobs`: memory and threads in this process;
* ``redis_backend`` with ``redis_store``, ``celery_app``, ``runner``, ``watchdog``, ``worker_app`` —
  :class:`~.redis_backend.RedisJobs`: jobs in Redis, run by Celery workers.
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
    """The job service for this configuration, started: Redis + Celery with ``redis_url``, else embedded."""
    if redis_url:
        from .redis_backend import RedisJobs  # Celery and redis are imported only where they are used

        return RedisJobs(redis_url, limits)
    return LocalJobs(limits=limits)
