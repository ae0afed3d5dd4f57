"""The job layer: one interface, two backends, no Dash.

Every backend offers the same calls, each taking the caller's ``owner`` (the browser session id); a job of
another owner is indistinguishable from one that does not exist (``None`` / :class:`JobNotFound`):

``submit(owner, content, styles, settings) -> JobView`` · ``get(id, owner) -> JobView | None`` ·
``list(owner) -> [JobView]`` · ``update(id, owner, **weights)`` · ``cancel(id, owner)`` ·
``frame(id, owner) -> (seq, jpeg)`` · ``loss_history(id, owner, since)`` · ``result_image`` /
``result_png(id, owner)`` · ``timelapse(id, owner)`` · ``wait(id, owner, timeout)`` · ``shutdown()``

* :class:`~.local.JobManager` — the embedded default: worker threads in this process;
* :class:`~.redis_backend.RedisJobs` — ``STUDIO_REDIS_URL``: state in Redis, work in Celery workers
  (``python -m styletransfer.worker``), the task in ``task.py``.
"""
from .base import (DONE, FAILED, FINISHED, QUEUED, RUNNING, STOPPED, FrameHistory, JobNotFound, JobView,
                   LimitExceeded, admit, user_message)
from .local import JobManager

__all__ = ["DONE", "FAILED", "FINISHED", "QUEUED", "RUNNING", "STOPPED", "FrameHistory", "JobManager",
           "JobNotFound", "JobView", "LimitExceeded", "admit", "make_jobs", "user_message"]


def make_jobs(limits, redis_url: str | None = None):
    """The backend for this configuration: Redis + Celery when ``redis_url`` is given, else embedded."""
    if redis_url:
        from .redis_backend import RedisJobs

        return RedisJobs(redis_url, limits)
    return JobManager(limits=limits)
