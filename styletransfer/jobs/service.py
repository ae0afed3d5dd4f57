"""The job service: :class:`Jobs` holds every rule once, over a :class:`JobStore` and an :class:`Executor`."""
from __future__ import annotations

import io
import time
from typing import Protocol

from PIL import Image

from .. import images
from ..engine import resolve
from ..limits import Limits
from ..settings import SettingError, Settings, check_live, plain
from .admission import admit, photo_for_prints, print_settings, rerun_note, rerun_settings
from .model import FINISHED, JobNotFound, JobView, check_changeable
from .progress import encode_timelapse
from .speed import SpeedMeter
from .stats import Snapshot, Stats
from .uploads import Uploads

__all__ = ["Executor", "JobStore", "Jobs"]


class JobStore(Protocol):
    """Where jobs live, each step atomic; none checks ownership (:class:`Jobs` does). Holds ``limits``,
    ``uploads`` and ``stats``."""

    limits: Limits
    uploads: Uploads
    stats: Stats

    def add(self, owner: str, client: str | None, settings: Settings, content: Image.Image,
            styles: list[Image.Image], start_image: Image.Image | None, note: str | None,
            photo: bytes | None = None) -> str:
        """Count the caps and queue the job in one step (OverCapacity when a cap is reached); its id."""

    def owner(self, job_id: str) -> str | None:
        """Whose job it is; None for no such job."""

    def view(self, job_id: str) -> JobView | None: ...

    def views(self, owner: str) -> list[JobView]:
        """The owner's jobs, oldest first."""

    def steer(self, job_id: str, weights: dict) -> None:
        """Hand checked live weights to the job: a running one applies them at its next iteration."""

    def cancel(self, job_id: str) -> str:
        """"stopped" for a queued job (it never starts; its inputs go), "stopping" for a running one."""

    def frame(self, job_id: str) -> tuple[int, bytes] | None: ...

    def losses(self, job_id: str, since: int) -> list[dict]: ...

    def rerun_inputs(self, job_id: str, with_result: bool
                     ) -> tuple[Image.Image | None, list[Image.Image], dict, Image.Image | None]:
        """(content or None once gone, paintings, the job's record, its result if ``with_result`` and kept)."""

    def photo(self, job_id: str) -> bytes | None:
        """``add``'s photo (for prints), while the job's inputs are kept."""

    def result_parts(self, job_id: str) -> tuple[bytes | None, Image.Image | None, dict]:
        """(the stored result PNG, else None; else the latest image, or None before the first; the record)."""

    def timelapse_parts(self, job_id: str, fmt: str) -> tuple[bytes | None, list[bytes], list | None, bool]:
        """(the kept time-lapse in ``fmt`` or None; the frames; the result's size; whether the job has ended)."""

    def keep_timelapse(self, job_id: str, fmt: str, data: bytes) -> None: ...

    def finished_ids(self, owner: str) -> list[str]:
        """The owner's finished jobs, oldest first."""

    def delete(self, job_ids: list[str], owner: str) -> None: ...

    def speed(self) -> SpeedMeter:
        """The time model of the executor's devices, as measured so far."""

    def counts(self) -> dict:
        """{"queued": n, "running": n} now."""

    def wait_change(self, timeout: float) -> None:
        """Return once something may have changed, or after ``timeout`` seconds."""

    def close(self) -> None: ...


class Executor(Protocol):
    """What runs the store's queued jobs."""

    @property
    def devices(self) -> list[str]:
        """The devices jobs run on, GPUs first (the page's defaults follow the first)."""

    def start(self, job_id: str) -> None:
        """The job was queued in the store: run it when its turn comes."""

    def workers(self) -> dict:
        """{device: workers alive}."""

    def not_ready(self) -> list[str]:
        """Why no job can run now; [] when one can."""

    def shutdown(self) -> None: ...


class Jobs:
    """Jobs of many owners over ``store`` and ``executor``; another owner's job is as if absent."""

    def __init__(self, store: JobStore, executor: Executor):
        self.store, self.executor = store, executor
        self.limits, self.uploads = store.limits, store.uploads

    @property
    def devices(self) -> list[str]:
        return self.executor.devices

    # ---------------------------------------------------------------- a job's life

    def submit(self, owner: str, content: Image.Image, styles: list[Image.Image], settings: Settings,
               start_image: Image.Image | None = None, note: str | None = None, client: str | None = None,
               largest: int | None = None, photo: bytes | None = None) -> JobView:
        """Admit and queue a job (SettingError, ImageTooSmall, LimitExceeded). ``client``: the submitter's address."""
        uploaded = content  # kept for prints where larger than the job, unless Run again or a print passes one on
        settings, content, styles = admit(settings, content, styles, self.limits, self.devices[0], largest)
        photo = photo or photo_for_prints(uploaded, settings.size, self.limits)
        job_id = self.store.add(owner, client, settings, content, styles, start_image, note, photo)
        self.executor.start(job_id)
        self.store.stats.count("jobs_submitted_total")
        self._forget_old(owner)
        return self._view(job_id, owner)

    def rerun(self, job_id: str, owner: str, continue_iterations: int | None = None,
              client: str | None = None) -> JobView:
        """"Run again" (same images, settings, seed) or "Continue" (more iterations from the result)."""
        self._require(job_id, owner)
        content, styles, record, result = self.store.rerun_inputs(job_id, continue_iterations is not None)
        note = rerun_note(job_id, content, result, continue_iterations)
        return self.submit(owner, content, styles, rerun_settings(record, continue_iterations), result, note, client,
                           photo=self.store.photo(job_id))

    def make_print(self, job_id: str, owner: str, size: int, client: str | None = None) -> JobView:
        """A new job: this finished job painted again at ``size`` px from its result, over its kept photo."""
        self._require(job_id, owner)
        content, styles, record, result = self.store.rerun_inputs(job_id, True)
        rerun_note(job_id, content, result, None)  # its images are still kept
        if result is None:
            raise SettingError("only a finished job can be made into a print")
        settings = print_settings(record, size, max(result.size), self.limits)
        note = f"a {size}-px print of job {job_id[:8]}, from its result"
        photo = self.store.photo(job_id)
        if photo is not None:
            content = Image.open(io.BytesIO(photo)).convert("RGB")
        return self.submit(owner, content, styles, settings, result, note, client, self.limits.max_print_size, photo)

    def print_options(self, job_id: str, owner: str, sizes: list[int]) -> list[tuple[int, float | None]]:
        """``sizes`` this finished job can be made into here, with estimated seconds; past the workers' memory, left out."""
        self._require(job_id, owner)
        content, styles, record, result = self.store.rerun_inputs(job_id, True)
        if content is None or result is None:
            return []
        meter, options = self.store.speed(), []
        for size in sizes:
            if size <= max(result.size):
                continue
            width, height = images.long_side_size(content.size, size)
            if meter.can_paint(height, width):
                settings = resolve(print_settings(record, size, max(result.size), self.limits), self.devices[0])
                options.append((size, meter.estimate(settings, content.size, [s.size for s in styles])))
        return options

    def update(self, job_id: str, owner: str, **weights) -> JobView:
        """Change live weights; a running job applies them at its next iteration."""
        view = self._view(job_id, owner)
        check_changeable(view.status)
        checked = check_live(weights)
        self.store.steer(job_id, checked)
        view.weights.update(plain(checked))
        return view

    def cancel(self, job_id: str, owner: str) -> JobView:
        """A queued job never starts (its inputs go at once); a running one stops with its image kept."""
        self._require(job_id, owner)
        if self.store.cancel(job_id) == "stopped":  # a running one is counted when it ends
            self.store.stats.count("jobs_finished_total", outcome="cancelled")
        view = self._view(job_id, owner)
        self._forget_old(owner)
        return view

    # ---------------------------------------------------------------- reading

    def get(self, job_id: str, owner: str) -> JobView | None:
        return self.store.view(job_id) if self._owns(job_id, owner) else None

    def list(self, owner: str) -> list[JobView]:
        """The owner's jobs, oldest first."""
        return self.store.views(owner)

    def frame(self, job_id: str, owner: str) -> tuple[int, bytes] | None:
        """(sequence number, JPEG) of the latest preview, or None before the first."""
        self._require(job_id, owner)
        return self.store.frame(job_id)

    def loss_history(self, job_id: str, owner: str, since: int = 0) -> list[dict]:
        """Loss terms of the iterations after ``since`` (the chart asks only for what it lacks)."""
        self._require(job_id, owner)
        return self.store.losses(job_id, since)

    def result_image(self, job_id: str, owner: str) -> Image.Image | None:
        """The result (or, while running, the latest preview), or None before the first frame."""
        self._require(job_id, owner)
        png, image, _ = self.store.result_parts(job_id)
        return image if png is None else Image.open(io.BytesIO(png)).convert("RGB")

    def result_png(self, job_id: str, owner: str) -> bytes | None:
        """The result (or, while running, the latest preview) as PNG with the job's record embedded."""
        self._require(job_id, owner)
        png, image, record = self.store.result_parts(job_id)
        if png is not None:
            return png
        return None if image is None else images.png_bytes(image, record)

    def timelapse(self, job_id: str, owner: str, fmt: str = "mp4") -> bytes | None:
        """The job's MP4 or GIF: kept once it has ended, made from the frames so far while it runs."""
        self._require(job_id, owner)
        cached, frames, size, finished = self.store.timelapse_parts(job_id, fmt)
        if cached is not None:
            return cached
        data = encode_timelapse(frames, size, fmt)
        if finished and data is not None:
            self.store.keep_timelapse(job_id, fmt, data)
        return data

    def wait(self, job_id: str, owner: str, timeout: float = 60.0) -> JobView | None:
        """Block until the job has finished or ``timeout`` passed (for tests and scripts)."""
        deadline = time.time() + timeout
        while True:
            view = self.get(job_id, owner)
            if view is None or view.status in FINISHED or time.time() >= deadline:
                return view
            self.store.wait_change(max(0.0, min(0.5, deadline - time.time())))

    # ---------------------------------------------------------------- the service as a whole

    def estimate(self, settings: Settings, content_wh: tuple[int, int] | None = None) -> float | None:
        """Seconds such a job would take here, from the measured speed (None before any measurement)."""
        return self.store.speed().estimate(resolve(settings, self.devices[0]), content_wh)

    def stats(self) -> Snapshot:
        """The counters an operator watches: jobs submitted, finished by outcome, durations (``stats.py``)."""
        return self.store.stats.snapshot()

    def load(self) -> dict:
        """Now: {"queued": n, "running": n, "workers": {device: workers alive}}."""
        return {**self.store.counts(), "workers": self.executor.workers()}

    def not_ready(self) -> list[str]:
        """Why this service cannot take jobs now (Redis away, no worker, weights loading); [] when it can."""
        return self.executor.not_ready()

    def shutdown(self) -> None:
        """Stop what this service started here and join its threads."""
        self.executor.shutdown()
        self.store.close()

    # ---------------------------------------------------------------- ownership and housekeeping

    def _owns(self, job_id, owner: str) -> bool:
        return isinstance(job_id, str) and len(job_id) <= 64 and self.store.owner(job_id) == owner

    def _require(self, job_id, owner: str) -> None:
        if not self._owns(job_id, owner):
            raise JobNotFound(job_id)

    def _view(self, job_id: str, owner: str) -> JobView:
        """The owner's job as a view; JobNotFound otherwise (or once it is gone)."""
        view = self.get(job_id, owner)
        if view is None:
            raise JobNotFound(job_id)
        return view

    def _forget_old(self, owner: str) -> None:
        """Keep the session's newest ``max_jobs_kept_per_session`` finished jobs; the rest go now."""
        finished = self.store.finished_ids(owner)
        self.store.delete(finished[: max(0, len(finished) - self.limits.max_jobs_kept_per_session)], owner)
