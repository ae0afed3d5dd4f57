"""A job as both backends and the web see it: statuses, errors, the typed view, and the one-line
messages users get when a job fails."""
from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field

import torch

from ..backbones import WeightsUnavailable
from ..settings import SettingError

class Status(enum.StrEnum):
    """A job's status. A str: it is stored and sent as its value ("queued" …), and Redis's Lua reads that."""
    QUEUED = "queued"
    RUNNING = "running"
    STOPPED = "stopped"
    DONE = "done"
    FAILED = "failed"


QUEUED, RUNNING, STOPPED, DONE, FAILED = Status

FINISHED = (STOPPED, DONE, FAILED)


class ServiceUnavailable(Exception):
    """The job store does not answer (Redis away); the job is kept and carries on once it does."""


try:  # what a backend raises when its store does not answer (the Redis backend's; none for the embedded one)
    import redis.exceptions as _redis

    UNAVAILABLE: tuple = (ServiceUnavailable, _redis.ConnectionError, _redis.TimeoutError)
except ImportError:
    UNAVAILABLE = (ServiceUnavailable,)


class JobNotFound(KeyError):
    """No such job for this owner (it may exist for someone else: that is not said)."""


class LimitExceeded(ValueError):
    """A job over one of this server's limits; the message says which and what to do (HTTP 400)."""


class OverCapacity(LimitExceeded):
    """A cap on queued or running jobs was reached; the same job may be taken later (HTTP 429)."""


@dataclass
class JobView:
    """One job as the page, the API and the tests see it, on either backend."""

    id: str
    status: Status
    settings: dict                      # the record: start settings, weight changes, where it stopped
    weights: dict                       # the weights in force now
    created: float
    queue_position: int = 0             # 1 = next to start; 0 when not queued
    iteration: int = 0
    total_iterations: int = 0
    scale: int = 0
    scales: int = 0
    size: list | None = None
    eta: float | None = None
    elapsed: float = 0.0
    losses: dict = field(default_factory=dict)
    events: list = field(default_factory=list)
    error: str | None = None
    note: str | None = None             # e.g. "resumed at iteration 40 after its worker was lost"
    frame_seq: int = 0
    frame_time: float | None = None
    frame_log: list = field(default_factory=list)
    frames: int = 0                     # time-lapse frames kept
    started: float | None = None
    finished: float | None = None
    device: str | None = None
    attempt: int = 1
    has_result: bool = False

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)



class NotChangeable(SettingError):
    """Live weights sent to a job that has ended (the API's 409)."""


def check_changeable(status: Status) -> None:
    """Live weights go to queued and running jobs only."""
    if status in FINISHED:
        raise NotChangeable(f"the job is {status}: its settings can no longer change")



# A job failing with one of these is the input's or the machine's limit, said in its message; any other
# exception is a bug, logged with its traceback.
EXPECTED_FAILURES = (ValueError, WeightsUnavailable, MemoryError)


def user_message(exc: BaseException) -> str:
    """One line for the user: our own errors' text, else a plain line (the raw text goes to the log)."""
    if isinstance(exc, MemoryError):
        return "out of memory: try a smaller size"
    if isinstance(exc, getattr(torch.cuda, "OutOfMemoryError", ())):
        return "out of GPU memory: try a smaller size"
    if isinstance(exc, WeightsUnavailable):  # its operator's text may name the server's folders
        return exc.public.strip().splitlines()[0]
    if isinstance(exc, ValueError) and str(exc).strip():
        return str(exc).strip().splitlines()[0]
    return f"the job failed unexpectedly ({exc.__class__.__name__}); the details are in the server's log"
