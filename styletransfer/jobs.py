"""Job manager: a FIFO queue, background worker threads, per-job state, frames and ownership.

Knows nothing of Dash or Flask. The interface is small on purpose — ``submit``, ``get``, ``list``,
``update``, ``cancel``, ``frame``, ``loss_history``, ``result_image``/``result_png``, ``timelapse``,
``wait`` — so that a Celery + Redis implementation can stand in for the thread pool without the web
layer noticing.

Every call takes the caller's ``owner`` (the browser session id); a job of another owner is
indistinguishable from a job that does not exist (``None`` / :class:`JobNotFound`).
"""
from __future__ import annotations

import dataclasses
import io
import logging
import os
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Iterator

import torch
from PIL import Image

from . import images
from .backbones import WeightsUnavailable, load_backbone
from .engine import Controls, Progress, StyleTransfer, check_inputs, pick_device
from .limits import Limits
from .settings import SettingError, Settings

__all__ = ["Job", "JobManager", "JobNotFound", "LimitExceeded"]

log = logging.getLogger(__name__)

QUEUED, RUNNING, STOPPED, DONE, FAILED = "queued", "running", "stopped", "done", "failed"
FINISHED = (STOPPED, DONE, FAILED)


class JobNotFound(KeyError):
    """No such job for this owner (it may exist for someone else: that is not said)."""


class LimitExceeded(ValueError):
    """A limit from :class:`Limits` was reached; the message says which and what to do."""


class FrameHistory:
    """At most ``capacity`` frames spread over the whole run: when full, every other frame is dropped
    and only every 2nd (then 4th, ...) new frame is kept, so the time-lapse covers start to end."""

    def __init__(self, capacity: int):
        self.capacity = max(2, capacity)
        self.frames: list[bytes] = []
        self.stride = 1
        self.offered = 0

    def offer(self, frame: bytes, force: bool = False) -> None:
        self.offered += 1
        if not force and (self.offered - 1) % self.stride:
            return
        self.frames.append(frame)
        if len(self.frames) > self.capacity:
            self.frames = self.frames[::2]
            self.stride *= 2

    def __len__(self):
        return len(self.frames)


@dataclass
class Job:
    id: str
    owner: str
    settings: Settings
    content: Image.Image
    styles: list[Image.Image]
    controls: Controls
    created: float = field(default_factory=time.time)
    status: str = QUEUED
    started: float | None = None
    finished: float | None = None
    iteration: int = 0
    total_iterations: int = 0
    scale: int = 0
    scales: int = 0
    size: tuple[int, int] | None = None
    eta: float | None = None
    elapsed: float = 0.0
    losses: dict = field(default_factory=dict)
    loss_history: list[dict] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)     # live weight changes: {iteration, weights}
    frame: bytes | None = None                            # latest preview, JPEG
    frame_seq: int = 0
    frame_time: float | None = None                       # when the latest preview was produced
    frame_log: deque = field(default_factory=lambda: deque(maxlen=200))  # (seq, produced at)
    history: FrameHistory | None = None
    result: Image.Image | None = None
    error: str | None = None
    device: str | None = None

    def weights(self) -> dict:
        """The weights in force now."""
        _, changes = self.controls.snapshot()
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.settings.live_weights(changes).items()}

    def record(self) -> Settings:
        """The settings it started with, its weight changes and where it stopped: replaying them
        reproduces the result (the same record :meth:`StyleTransfer.record` makes)."""
        return dataclasses.replace(self.settings, schedule=tuple(self.events),
                                   stop_after=self.iteration if self.status == STOPPED else None)


Runner = Callable[[Job, str], Iterator[Progress]]


def engine_runner(job: Job, device: str) -> Iterator[Progress]:
    """Run a job with the engine on ``device``; the default runner."""
    settings = dataclasses.replace(job.settings, device=device)
    transfer = StyleTransfer(settings, job.controls)
    job.settings.seed = transfer.settings.seed
    job.settings.iterations = transfer.settings.iterations
    yield from transfer.run(job.content, job.styles)
    job.result = transfer.result


class JobManager:
    """Runs jobs in FIFO order on one worker thread per GPU, or one on the CPU."""

    def __init__(self, devices: list[str] | None = None, limits: Limits | None = None, runner: Runner = engine_runner,
                 preload: str | None = "vgg19", nice: int = 10):
        self.limits = limits or Limits()
        self.runner = runner
        if devices is None:
            devices = ([f"cuda:{i}" for i in range(torch.cuda.device_count())]
                       or [str(pick_device("auto"))])
        self.devices = devices
        self._lock = threading.Condition()
        self._jobs: dict[str, Job] = {}
        self._queue: deque[str] = deque()
        self._closing = False
        self._preload = preload
        self._nice = nice
        self._workers = [threading.Thread(target=self._work, args=(d,), name=f"stylize-{d}", daemon=True)
                         for d in devices]
        for t in self._workers:
            t.start()

    # ---------------------------------------------------------------- the interface

    def submit(self, owner: str, content: Image.Image, styles: list[Image.Image], settings: Settings) -> dict:
        if not styles:
            raise SettingError("add at least one painting")
        settings.validate(n_styles=len(styles))
        check_inputs(settings, content.size, [s.size for s in styles])
        if settings.size > self.limits.max_size:
            raise LimitExceeded(f"size {settings.size} px is over this server's limit of {self.limits.max_size} px: "
                                "choose a smaller size")
        if settings.iterations is not None and settings.iterations > self.limits.max_iterations:
            raise LimitExceeded(f"{settings.iterations} iterations is over this server's limit of "
                                f"{self.limits.max_iterations}: lower the quality")
        with self._lock:
            mine = [j for j in self._jobs.values() if j.owner == owner and j.status in (QUEUED, RUNNING)]
            if len(mine) >= self.limits.max_queued_per_session:
                raise LimitExceeded(f"you already have {len(mine)} jobs queued or running (the limit is "
                                    f"{self.limits.max_queued_per_session}): wait for one to finish or stop one")
            if len(self._queue) >= self.limits.max_queued_total:
                raise LimitExceeded(f"the server's queue is full ({self.limits.max_queued_total} jobs): "
                                    "try again in a few minutes")
            job = Job(id=str(uuid.uuid4()), owner=owner, settings=dataclasses.replace(settings), content=content,
                      styles=list(styles), controls=Controls(), history=FrameHistory(self.limits.frame_history))
            self._jobs[job.id] = job
            self._queue.append(job.id)
            self._forget_old(owner)
            self._lock.notify_all()
            return self._view(job)

    def get(self, job_id: str, owner: str) -> dict | None:
        with self._lock:
            job = self._owned(job_id, owner)
            return self._view(job) if job else None

    def list(self, owner: str) -> list[dict]:
        with self._lock:
            return [self._view(j) for j in sorted(self._jobs.values(), key=lambda j: j.created) if j.owner == owner]

    def update(self, job_id: str, owner: str, **weights) -> dict:
        """Change live weights; a running job applies them at its next iteration."""
        with self._lock:
            job = self._require(job_id, owner)
            if job.status in FINISHED:
                raise SettingError(f"the job is {job.status}: its settings can no longer change")
            job.controls.update(**weights)
            return self._view(job)

    def cancel(self, job_id: str, owner: str) -> dict:
        """Stop a job: a queued one never starts, a running one keeps its current image."""
        with self._lock:
            job = self._require(job_id, owner)
            if job.status == QUEUED:
                self._queue.remove(job.id)
                job.status, job.finished = STOPPED, time.time()
            elif job.status == RUNNING:
                job.controls.stop()
            return self._view(job)

    def frame(self, job_id: str, owner: str) -> tuple[int, bytes] | None:
        """(sequence number, JPEG bytes) of the latest preview, or None before the first."""
        with self._lock:
            job = self._require(job_id, owner)
            return (job.frame_seq, job.frame) if job.frame else None

    def result_image(self, job_id: str, owner: str) -> Image.Image | None:
        """The result (or, while running, the latest preview), or None before the first frame."""
        with self._lock:
            job = self._require(job_id, owner)
            image, latest = job.result, job.frame
        if image is None and latest is not None:
            image = Image.open(io.BytesIO(latest)).convert("RGB")
        return image

    def result_png(self, job_id: str, owner: str) -> bytes | None:
        """:meth:`result_image` as PNG with the job's record embedded (settings, weight changes, stop)."""
        image = self.result_image(job_id, owner)
        with self._lock:
            settings = self._require(job_id, owner).record().to_dict()
        return None if image is None else images.png_bytes(image, settings)

    def timelapse(self, job_id: str, owner: str) -> bytes | None:
        with self._lock:
            job = self._require(job_id, owner)
            frames = list(job.history.frames)
            size = job.result.size if job.result is not None else job.size
        if not frames:
            return None
        return images.gif_bytes([Image.open(io.BytesIO(f)).convert("RGB") for f in frames], size=size)

    def loss_history(self, job_id: str, owner: str, since: int = 0) -> list[dict]:
        """Loss terms of the iterations after ``since`` (the chart asks only for what it lacks)."""
        with self._lock:
            job = self._require(job_id, owner)
            return [h for h in job.loss_history if h["iteration"] > since]

    def wait(self, job_id: str, owner: str, timeout: float = 60.0) -> dict | None:
        """Block until the job has finished (for tests and scripts)."""
        deadline = time.time() + timeout
        with self._lock:
            while True:
                job = self._owned(job_id, owner)
                if job is None or job.status in FINISHED or time.time() >= deadline:
                    return self._view(job) if job else None
                self._lock.wait(timeout=max(0.0, min(0.5, deadline - time.time())))

    def shutdown(self) -> None:
        with self._lock:
            self._closing = True
            for job in self._jobs.values():
                job.controls.stop()
            self._lock.notify_all()

    # ---------------------------------------------------------------- internals

    def _owned(self, job_id: str, owner: str) -> Job | None:
        job = self._jobs.get(job_id)
        return job if job is not None and job.owner == owner else None

    def _require(self, job_id: str, owner: str) -> Job:
        job = self._owned(job_id, owner)
        if job is None:
            raise JobNotFound(job_id)
        return job

    def _forget_old(self, owner: str) -> None:
        done = [j for j in sorted(self._jobs.values(), key=lambda j: j.created)
                if j.owner == owner and j.status in FINISHED]
        for job in done[: max(0, len(done) - self.limits.max_jobs_kept_per_session)]:
            del self._jobs[job.id]

    def _view(self, job: Job) -> dict:
        position = self._queue.index(job.id) + 1 if job.status == QUEUED else 0
        return {
            "id": job.id, "status": job.status, "queue_position": position,
            "iteration": job.iteration, "total_iterations": job.total_iterations,
            "scale": job.scale, "scales": job.scales, "size": list(job.size) if job.size else None,
            "eta": job.eta, "elapsed": job.elapsed, "losses": dict(job.losses),
            "settings": job.record().to_dict(), "weights": job.weights(), "events": list(job.events),
            "error": job.error,
            "frame_seq": job.frame_seq, "frame_time": job.frame_time,
            "frame_log": [list(x) for x in job.frame_log], "frames": len(job.history),
            "created": job.created, "started": job.started, "finished": job.finished, "device": job.device,
            "has_result": job.result is not None or job.frame is not None,
        }

    def _next_job(self) -> Job | None:
        with self._lock:
            while not self._queue and not self._closing:
                self._lock.wait()
            if self._closing:
                return None
            job = self._jobs[self._queue.popleft()]
            job.status, job.started = RUNNING, time.time()
            return job

    def _work(self, device: str) -> None:
        if device == "cpu" and self._nice:
            # Leave the web server room on a small CPU: this thread (and the OpenMP threads it
            # spawns, which inherit its priority) yield to request handling.
            try:
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), self._nice)
            except (OSError, AttributeError):
                pass
        if self._preload:
            try:
                load_backbone(self._preload, device)
            except (WeightsUnavailable, RuntimeError):
                pass  # reported by the first job that needs it
        while True:
            job = self._next_job()
            if job is None:
                return
            job.device = device
            self._run(job, device)

    def _run(self, job: Job, device: str) -> None:
        last_frame = 0.0
        try:
            for p in self.runner(job, device):
                frame = None
                now = time.time()
                final = p.iteration == p.total_iterations
                if p.image is not None and (p.weights_changed or final or p.iteration == 1
                                            or now - last_frame >= self.limits.frame_interval
                                            or p.scale != job.scale):
                    frame = _jpeg(p.to_image())
                    last_frame = now
                with self._lock:
                    job.iteration, job.total_iterations = p.iteration, p.total_iterations
                    job.scale, job.scales, job.size = p.scale, p.scales, p.size
                    job.eta, job.elapsed, job.losses = p.eta, p.elapsed, p.losses
                    job.loss_history.append({"iteration": p.iteration, "elapsed": round(p.elapsed, 3), **p.losses})
                    if p.weights_changed:
                        job.events.append({"iteration": p.iteration, "weights": dict(p.weights)})
                    if frame is not None:
                        _publish_frame(job, frame, now, keep=p.weights_changed)
                    self._lock.notify_all()
            final_frame = _jpeg(job.result) if job.result is not None else None
            with self._lock:
                if final_frame is not None and final_frame != job.frame:
                    _publish_frame(job, final_frame, time.time(), keep=True)
                job.status = STOPPED if job.controls.stopped else DONE
        except Exception as exc:  # a failing job must never take the worker (or the server) with it
            if not isinstance(exc, (ValueError, WeightsUnavailable, MemoryError)):
                log.exception("job %s failed", job.id)
            with self._lock:
                job.status = FAILED
                job.error = user_message(exc)
        finally:
            with self._lock:
                job.finished = time.time()
                job.eta = 0.0
                # the inputs are no longer needed; the result and frames stay for download
                job.content, job.styles = None, []
                self._lock.notify_all()


def _publish_frame(job: Job, frame: bytes, at: float, keep: bool) -> None:
    """Make ``frame`` the job's latest preview and offer it to the time-lapse (caller holds the lock)."""
    job.frame, job.frame_seq, job.frame_time = frame, job.frame_seq + 1, at
    job.frame_log.append((job.frame_seq, at))
    job.history.offer(frame, force=keep)


def _jpeg(image: Image.Image, quality: int = 88) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def user_message(exc: BaseException) -> str:
    """One line for the user. Our own errors (bad input, missing weights) say what to do; anything else is
    a bug or a machine problem, whose raw text means nothing to a user: it goes to the log instead."""
    if isinstance(exc, MemoryError):
        return "out of memory: try a smaller size"
    if isinstance(exc, getattr(torch.cuda, "OutOfMemoryError", ())):
        return "out of GPU memory: try a smaller size"
    if isinstance(exc, (ValueError, WeightsUnavailable)) and str(exc).strip():
        return str(exc).strip().splitlines()[0]
    return f"the job failed unexpectedly ({exc.__class__.__name__}); the details are in the server's log"
