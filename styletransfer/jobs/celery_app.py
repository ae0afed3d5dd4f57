"""The Celery app both sides share: the web sends a job's turn, a worker runs ``styletransfer.run_job``."""
from __future__ import annotations

from celery import Celery

from ..limits import Limits

TASK_NAME = "styletransfer.run_job"
QUEUE_NAME = "styletransfer"


def make_celery(redis_url: str, limits: Limits) -> Celery:
    """A Celery app on ``redis_url``: the web side sends with it, a worker runs tasks with it."""
    app = Celery("styletransfer", broker=redis_url, set_as_current=False)
    app.conf.update(
        task_acks_late=True,                  # a job's message is acknowledged when it ends…
        worker_prefetch_multiplier=1,         # …and a busy worker reserves nothing beyond it
        task_reject_on_worker_lost=False,     # recovery is the watchdog's (module docstring)
        task_ignore_result=True,              # live data lives in our own keys
        task_default_queue=QUEUE_NAME,
        task_serializer="json", accept_content=["json"],
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": int(3 * limits.max_job_seconds + 600)},
        worker_hijack_root_logger=False,
    )
    return app


def send(app: Celery, job_id: str, attempt: int) -> None:
    app.send_task(TASK_NAME, args=[job_id, attempt], queue=QUEUE_NAME)
