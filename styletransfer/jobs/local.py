"""The embedded backend: jobs run on worker threads inside this process (one per GPU, or one on the CPU).

Needs nothing else, so ``python app.py`` on a laptop just works; what it keeps is lost when the process
ends. The Redis + Celery backend (``redis_backend.py``) implements the same interface (``backend.py``).
"""
from __future__ import annotations

import atexit
import bisect
import io
import logging
import os
import threading
import time
import uuid
import weakref
from collections import deque
from dataclasses import dataclass, field

import torch
from PIL import Image

from ..backbones import WeightsUnavailable, load_backbone
from ..engine import Controls, StyleTransfer, pick_device, resolve
from ..limits import Limits
from ..settings import Settings, plain
from .admission import Standing, admit, start_checkpoint
from .model import FAILED, FINISHED, QUEUED, RUNNING, STOPPED, JobView, check_changeable
from .progress import FrameHistory, ProgressRecorder, Update
from .runloop import JobRun, run_job
from .service import JobRules
from .speed import SpeedMeter, calibrate_into
from .stats import MemoryStats, Snapshot
from .uploads import DiskUploads

log = logging.getLogger(__name__)

__all__ = ["LocalJobs"]


@dataclass
class Job:
    id: str
    owner: str
    settings: Settings                                    # resolved at admission
    content: Image.Image | None
    styles: list[Image.Image]
    controls: Controls
    history: FrameHistory
    client: str | None = None
    created: float = field(default_factory=time.time)
    order: float = 0.0                                    # its place in the queue (Standing.queue_order)
    status: str = QUEUED
    started: float | None = None
    finished: float | None = None
    progress: dict = field(default_factory=dict)          # iteration, total_iterations, scale, ... losses
    loss_history: list[dict] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)      # live weight changes: {iteration, weights}
    frame: bytes | None = None                            # latest preview, JPEG
    frame_seq: int = 0
    frame_time: float | None = None
    frame_log: deque = field(default_factory=lambda: deque(maxlen=200))  # (seq, produced at)
    result: Image.Image | None = None
    timelapses: dict = field(default_factory=dict)        # format -> bytes: MP4 built when the job ends
    error: str | None = None
    note: str | None = None
    device: str | None = None
    start_image: Image.Image | None = None                # "Continue": the result it starts from

    def weights(self) -> dict:
        """The weights in force now."""
        _, changes = self.controls.snapshot()
        return plain(self.settings.live_weights(changes))

    def record(self) -> Settings:
        """The settings it started with, its weight changes and where it stopped."""
        return self.settings.steered(self.events,
                                     self.progress.get("iteration", 0) if self.status == STOPPED else None)

    def apply(self, update: Update) -> None:
        """One iteration's changes (the caller holds the backend's lock)."""
        self.progress.update(update.fields)
        if update.loss_entry:
            self.loss_history.append(update.loss_entry)
        if update.event:
            self.events.append(update.event)
        if update.frame is not None:
            self.frame, self.frame_seq, self.frame_time = update.frame, self.frame_seq + 1, update.frame_time
            self.frame_log.append((self.frame_seq, update.frame_time))

    def view(self, queue_position: int) -> JobView:
        return JobView(
            id=self.id, status=self.status, settings=self.record().to_dict(), weights=self.weights(),
            created=self.created, queue_position=queue_position, events=list(self.events), error=self.error,
            note=self.note, frame_seq=self.frame_seq, frame_time=self.frame_time,
            frame_log=[list(x) for x in self.frame_log], frames=len(self.history), started=self.started,
            finished=self.finished, device=self.device, has_result=self.result is not None or self.frame is not None,
            **{k: self.progress[k] for k in ("iteration", "total_iterations", "scale", "scales", "size", "eta",
                                             "elapsed", "losses") if k in self.progress},
        )


class _LocalSink:
    """The job loop's output for the embedded backend: into the in-memory job, under the backend's lock."""

    lost = False

    def __init__(self, jobs: "LocalJobs", job: Job):
        self.jobs, self.job = jobs, job

    def latest_frame(self) -> bytes | None:
        return self.job.frame

    def apply(self, update: Update) -> None:
        with self.jobs._lock:
            self.job.apply(update)
            self.jobs._lock.notify_all()

    def after_iteration(self, transfer: StyleTransfer) -> None:
        pass  # nothing to checkpoint: the job lives and dies with this process

    def note(self, text: str) -> None:
        with self.jobs._lock:
            self.job.note = text

    def finish(self, status: str, transfer: StyleTransfer, timelapse_mp4: bytes | None, speed_sample) -> None:
        with self.jobs._lock:
            self.job.result = transfer.result
            if timelapse_mp4 is not None:
                self.job.timelapses["mp4"] = timelapse_mp4
            self.job.status = status
            if speed_sample:
                self.jobs.speed.observe(*speed_sample)

    def fail(self, message: str) -> None:
        with self.jobs._lock:
            self.job.status, self.job.error = FAILED, message


_RUNNING: "weakref.WeakSet[LocalJobs]" = weakref.WeakSet()  # started and not yet shut down
_exit_handler = None


def _shut_down_all() -> None:
    for jobs in list(_RUNNING):
        jobs.shutdown(timeout=10.0)


def _stop_at_exit(jobs: "LocalJobs") -> None:
    """A worker left inside torch when the interpreter ends takes the process down with an abort
    ("terminate called without an active exception"), e.g. on Ctrl+C mid-job: the backends not shut down
    by then are, by one exit handler for all of them."""
    global _exit_handler
    if not _exit_handler:  # registered once, however many backends come and go
        _exit_handler = atexit.register(_shut_down_all)
    _RUNNING.add(jobs)


class LocalJobs(JobRules[Job]):
    """Runs jobs in the queue's fair order (round-robin by session and client) on one worker thread per GPU,
    or one on the CPU. The threads start with the backend and are joined by :meth:`shutdown` (also at
    interpreter exit, if not called before)."""

    def __init__(self, devices: list[str] | None = None, limits: Limits | None = None,
                 preload: str | None = "vgg19", nice: int = 10):
        self.limits = limits or Limits()
        if devices is None:
            devices = ([f"cuda:{i}" for i in range(torch.cuda.device_count())]
                       or [str(pick_device("auto"))])
        self._devices = devices
        self._lock = threading.Condition()
        self._jobs: dict[str, Job] = {}
        self._queue: list[str] = []  # queued job ids by their order
        self._closing = False
        self._preload = preload
        self._nice = nice
        self.speed = SpeedMeter()
        self._stats = MemoryStats()
        self.uploads = DiskUploads(self.limits.max_stored_uploads)
        self._warm: set[str] = set()  # devices whose worker has loaded the default backbone
        self._weights_missing: str | None = None
        self._workers = [threading.Thread(target=self._work, args=(d,), name=f"stylize-{d}", daemon=True)
                         for d in devices]
        for t in self._workers:
            t.start()
        _stop_at_exit(self)  # once the interpreter ends, if not shut down before

    @property
    def devices(self) -> list[str]:
        return list(self._devices)

    # ---------------------------------------------------------------- the interface

    def submit(self, owner: str, content: Image.Image, styles: list[Image.Image], settings: Settings,
               start_image: Image.Image | None = None, note: str | None = None, client: str | None = None) -> JobView:
        settings, content, styles = admit(settings, content, styles, self.limits, self._devices[0])
        with self._lock:  # counted and taken in one step
            active = [(j.owner, j.client) for j in self._jobs.values() if j.status in (QUEUED, RUNNING)]
            standing = Standing.count(active, owner, client, len(self._queue))
            standing.check(self.limits)
            job = Job(id=str(uuid.uuid4()), owner=owner, settings=settings, content=content, styles=list(styles),
                      controls=Controls(), history=FrameHistory(self.limits.frame_history), client=client,
                      start_image=start_image, note=note)
            job.order = standing.queue_order(job.created)
            self._jobs[job.id] = job
            bisect.insort(self._queue, job.id, key=lambda i: self._jobs[i].order)
            self._forget_old(owner)
            self._lock.notify_all()
            self._stats.count("jobs_submitted_total")
            return self._view(job)

    def get(self, job_id: str, owner: str) -> JobView | None:
        with self._lock:
            job = self._owned(job_id, owner)
            return self._view(job) if job else None

    def list(self, owner: str) -> list[JobView]:
        with self._lock:
            return [self._view(j) for j in sorted(self._jobs.values(), key=lambda j: j.created) if j.owner == owner]

    def update(self, job_id: str, owner: str, **weights) -> JobView:
        with self._lock:
            job = self._require(job_id, owner)
            check_changeable(job.status)
            job.controls.update(**weights)
            return self._view(job)

    def cancel(self, job_id: str, owner: str) -> JobView:
        with self._lock:
            job = self._require(job_id, owner)
            if job.status == QUEUED:
                self._queue.remove(job.id)
                job.status, job.finished = STOPPED, time.time()
                job.content, job.styles = None, []
                self._stats.count("jobs_finished_total", outcome="cancelled")
            elif job.status == RUNNING:
                job.controls.stop()
            view = self._view(job)
            self._forget_old(owner)
            return view

    def frame(self, job_id: str, owner: str) -> tuple[int, bytes] | None:
        with self._lock:
            job = self._require(job_id, owner)
            return (job.frame_seq, job.frame) if job.frame else None

    def loss_history(self, job_id: str, owner: str, since: int = 0) -> list[dict]:
        """Loss terms of the iterations after ``since`` (the chart asks only for what it lacks)."""
        with self._lock:
            job = self._require(job_id, owner)
            return [h for h in job.loss_history if h["iteration"] > since]

    def estimate(self, settings: Settings, content_wh: tuple[int, int] | None = None) -> float | None:
        return self.speed.estimate(resolve(settings, self._devices[0]), content_wh)

    def wait(self, job_id: str, owner: str, timeout: float = 60.0) -> JobView | None:
        """Block until the job has finished (for tests and scripts)."""
        deadline = time.time() + timeout
        with self._lock:
            while True:
                job = self._owned(job_id, owner)
                if job is None or job.status in FINISHED or time.time() >= deadline:
                    return self._view(job) if job else None
                self._lock.wait(timeout=max(0.0, min(0.5, deadline - time.time())))

    def stats(self) -> Snapshot:
        return self._stats.snapshot()

    def load(self) -> dict:
        with self._lock:
            running = sum(1 for j in self._jobs.values() if j.status == RUNNING)
            queued = len(self._queue)
        workers: dict[str, int] = {}
        for device, thread in zip(self._devices, self._workers):
            if thread.is_alive():
                workers[device] = workers.get(device, 0) + 1
        return {"queued": queued, "running": running, "workers": workers}

    def not_ready(self) -> list[str]:
        reasons = []
        if not any(t.is_alive() for t in self._workers):
            reasons.append("no worker thread is running")
        if self._preload and not self._warm:
            reasons.append(self._weights_missing or f"the {self._preload} weights are still loading")
        return reasons

    def shutdown(self, timeout: float = 30.0) -> None:
        """Stop every job and join the workers: each ends the iteration (or the weight loading) it is in."""
        _RUNNING.discard(self)
        with self._lock:
            self._closing = True
            for job in self._jobs.values():
                job.controls.stop()
            self._lock.notify_all()
        deadline = time.time() + timeout
        for t in self._workers:
            if t is not threading.current_thread():
                t.join(max(0.0, deadline - time.time()))
        alive = [t.name for t in self._workers if t.is_alive()]
        if alive:
            log.warning("workers still busy after %.0f s: %s", timeout, ", ".join(alive))
        self.uploads.close()

    # ---------------------------------------------------------------- internals

    def _find(self, job_id: str):
        job = self._jobs.get(job_id)
        return (job, job.owner) if job is not None else None

    def _rerun_inputs(self, job_id, owner, with_result):
        with self._lock:
            job = self._require(job_id, owner)
            return job.content, list(job.styles), job.record().to_dict(), job.result if with_result else None

    def _result_parts(self, job_id, owner):
        with self._lock:
            job = self._require(job_id, owner)
            image, latest, record = job.result, job.frame, job.record().to_dict()
        if image is None and latest is not None:
            image = Image.open(io.BytesIO(latest)).convert("RGB")
        return None, image, record

    def _timelapse_parts(self, job_id, owner, fmt):
        with self._lock:
            job = self._require(job_id, owner)
            return (job.timelapses.get(fmt), list(job.history.frames), job.progress.get("size"),
                    job.status in FINISHED)

    def _keep_timelapse(self, job_id, fmt, data):
        with self._lock:
            if job_id in self._jobs:
                self._jobs[job_id].timelapses[fmt] = data

    def _finished_ids(self, owner):  # under the lock (submit, cancel)
        return [j.id for j in sorted(self._jobs.values(), key=lambda j: j.created)
                if j.owner == owner and j.status in FINISHED]

    def _delete(self, job_ids, owner):  # under the lock
        for job_id in job_ids:
            del self._jobs[job_id]

    def _forget_old(self, owner: str) -> None:
        """The session's oldest finished jobs (:class:`JobRules`); and anyone's older than ``job_ttl_s``
        (Redis expires its keys by itself)."""
        super()._forget_old(owner)
        expired = [j.id for j in self._jobs.values()
                   if j.status in FINISHED and j.finished and time.time() - j.finished > self.limits.job_ttl_s]
        for job_id in expired:
            del self._jobs[job_id]

    def _view(self, job: Job) -> JobView:
        return job.view(self._queue.index(job.id) + 1 if job.status == QUEUED else 0)

    def _next_job(self) -> Job | None:
        with self._lock:
            while not self._queue and not self._closing:
                self._lock.wait()
            if self._closing:
                return None
            job = self._jobs[self._queue.pop(0)]
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
            self._warm_up(device)
        while True:
            job = self._next_job()
            if job is None:
                return
            job.device = device
            self._run(job, device)

    def _warm_up(self, device: str) -> None:
        """Load the default backbone and measure this machine's speed once, before the first job."""
        try:
            load_backbone(self._preload, device)
        except WeightsUnavailable as exc:
            self._weights_missing = str(exc)  # also reported by the first job that needs them
            return
        self._warm.add(device)
        if self.speed.known or self._queue or self._closing:
            return

        def keep(measured: SpeedMeter, ours: SpeedMeter | None) -> bool:
            with self._lock:
                if self.speed.points != (ours.points if ours else []):  # a job on another device ended meanwhile
                    return False
                self.speed = measured
                return True

        # a job that arrives meanwhile does not wait for the measurement: it measures by ending
        calibrate_into(device, keep, lambda: self._closing or bool(self._queue), self.limits.max_size)

    def _run(self, job: Job, device: str) -> None:
        resume = start_checkpoint(job.start_image) if job.start_image is not None else None
        try:
            cost = self.speed.iteration_cost  # for the running ETA
            run = JobRun(job.id, lambda: StyleTransfer(job.settings, job.controls, device, cost), job.content,
                         job.styles, resume, ProgressRecorder(self.limits, job.history), _LocalSink(self, job))
            run_job(run, self.limits, self._stats)
        finally:
            with self._lock:
                job.finished = time.time()
                job.progress["eta"] = 0.0
                # the inputs stay with the job (bounded by STUDIO_MAX_JOBS_KEPT): "Run again" uses them
                self._lock.notify_all()
