"""The interface both backends implement and the web layer types against, and their shared ownership rule."""
from __future__ import annotations

from typing import Generic, Protocol, TypeVar

from PIL import Image

from ..limits import Limits
from ..settings import Settings
from .model import JobNotFound, JobView
from .stats import Snapshot
from .uploads import Uploads

__all__ = ["JobBackend", "Owned"]


class JobBackend(Protocol):
    """Jobs of many owners (browser sessions). A job of another owner is indistinguishable from one that
    does not exist: ``None`` where a call returns a value, :class:`JobNotFound` where it acts."""

    limits: Limits
    uploads: Uploads  # the files the page sent, until a job takes them

    @property
    def devices(self) -> list[str]:
        """The devices jobs run on here, GPUs first (the page's defaults follow the first)."""

    def submit(self, owner: str, content: Image.Image, styles: list[Image.Image], settings: Settings,
               start_image: Image.Image | None = None, note: str | None = None, client: str | None = None) -> JobView:
        """Admit and queue a job (SettingError, ImageTooSmall or LimitExceeded say why not). ``client``: the
        submitter's address, for the per-client cap and the queue's round-robin (None: not counted)."""

    def rerun(self, job_id: str, owner: str, continue_iterations: int | None = None,
              client: str | None = None) -> JobView:
        """"Run again" (same images, settings, seed) or "Continue" (more iterations from the result)."""

    def get(self, job_id: str, owner: str) -> JobView | None: ...

    def list(self, owner: str) -> list[JobView]:
        """The owner's jobs, oldest first."""

    def update(self, job_id: str, owner: str, **weights) -> JobView:
        """Change live weights; a running job applies them at its next iteration."""

    def cancel(self, job_id: str, owner: str) -> JobView:
        """A queued job never starts (its inputs go at once); a running one stops with its image kept."""

    def frame(self, job_id: str, owner: str) -> tuple[int, bytes] | None:
        """(sequence number, JPEG) of the latest preview, or None before the first."""

    def result_image(self, job_id: str, owner: str) -> Image.Image | None: ...

    def result_png(self, job_id: str, owner: str) -> bytes | None:
        """The result (or, while running, the latest preview) as PNG with the job's record embedded."""

    def timelapse(self, job_id: str, owner: str, fmt: str = "mp4") -> bytes | None: ...

    def loss_history(self, job_id: str, owner: str, since: int = 0) -> list[dict]: ...

    def estimate(self, settings: Settings, content_wh: tuple[int, int] | None = None) -> float | None:
        """Seconds such a job would take here, from the measured speed (None before any measurement)."""

    def wait(self, job_id: str, owner: str, timeout: float = 60.0) -> JobView | None: ...

    def stats(self) -> Snapshot:
        """The counters an operator watches: jobs submitted, finished by outcome, durations (``stats.py``)."""

    def load(self) -> dict:
        """Now: {"queued": n, "running": n, "workers": {device: workers alive}}."""

    def not_ready(self) -> list[str]:
        """Why this backend cannot take jobs now (Redis away, no worker, weights loading); [] when it can."""

    def shutdown(self) -> None:
        """Stop what this backend started here and join its threads."""


Record = TypeVar("Record")


class Owned(Generic[Record]):
    """The ownership rule, once: ``_find`` gives a job's stored record and its owner; a record of another
    owner is not found."""

    def _find(self, job_id: str) -> tuple[Record, str] | None:
        raise NotImplementedError

    def _owned(self, job_id: str, owner: str) -> Record | None:
        found = self._find(job_id) if isinstance(job_id, str) and len(job_id) <= 64 else None
        return found[0] if found is not None and found[1] == owner else None

    def _require(self, job_id: str, owner: str) -> Record:
        record = self._owned(job_id, owner)
        if record is None:
            raise JobNotFound(job_id)
        return record
