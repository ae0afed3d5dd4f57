"""The job layer: one interface (``backend.JobBackend``), two backends, one job loop, no Dash.

* ``model`` — statuses, errors, the typed :class:`JobView`, the one-line failure messages;
* ``admission`` — a submission checked against every rule and limit, its settings resolved once;
* ``progress`` — the engine's progress as a job's updates (previews, losses, the time-lapse);
* ``speed`` — the time model of this backend's devices (calibrated, corrected by every ended job), for
  the estimate before Start;
* ``runloop`` — the one job loop both backends run, each through its own sink;
* ``local`` — :class:`LocalJobs`, the embedded default: worker threads in this process;
* ``redis_backend`` / ``redis_store`` / ``task`` — :class:`~.redis_backend.RedisJobs`: state in Redis,
  work in Celery workers (``python -m styletransfer.worker``).
"""
from .admission import admit
from .backend import JobBackend
from .local import LocalJobs
from .model import (DONE, FAILED, FINISHED, QUEUED, RUNNING, STOPPED, JobNotFound, JobView, LimitExceeded,
                    NotChangeable, OverCapacity, ServiceUnavailable, Status, user_message)
from .progress import FrameHistory

__all__ = ["DONE", "FAILED", "FINISHED", "QUEUED", "RUNNING", "STOPPED", "FrameHistory", "JobBackend", "JobNotFound",
           "JobView", "LimitExceeded", "LocalJobs", "NotChangeable", "OverCapacity", "ServiceUnavailable", "Status",
           "admit", "make_jobs", "user_message"]


def make_jobs(limits, redis_url: str | None = None) -> JobBackend:
    """The backend for this configuration, started: Redis + Celery when ``redis_url`` is given, else embedded."""
    if redis_url:
        from .redis_backend import RedisJobs  # Celery and redis are imported only where they are used

        return RedisJobs(redis_url, limits)
    return LocalJobs(limits=limits)
