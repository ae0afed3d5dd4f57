"""The embedded job backend: jobs in this process's memory, run on worker threads here."""
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
from ..engine import Controls, StyleTransfer, pick_device
from ..limits import Limits
from ..settings import Settings, plain
from .admission import Standing, start_checkpoint
from .model import FAILED, FINISHED, QUEUED, RUNNING, STOPPED, JobNotFound, JobView
from .progress import FrameHistory, ProgressRecorder, Update
from .runloop import JobRun, run_job
from .service import Jobs
from .speed import SpeedMeter, calibrate_into
from .stats import MemoryStats
from .uploads import DiskUploads

log = logging.getLogger(__name__)

__all__ = ["LocalJobs", "MemoryStore", "ThreadExecutor"]


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
    photo: bytes | None = None                            # larger than the result, for prints (JPEG)

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

    def __init__(self, store: "MemoryStore", job: Job):
        self.store, self.job = store, job

    def latest_frame(self) -> bytes | None:
        return self.job.frame

    def apply(self, update: Update) -> None:
        with self.store.lock:
            self.job.apply(update)
            self.store.lock.notify_all()

    def after_iteration(self, transfer: StyleTransfer) -> None:
        pass  # nothing to checkpoint: the job lives and dies with this process

    def note(self, text: str) -> None:
        with self.store.lock:
            self.job.note = text

    def finish(self, status: str, transfer: StyleTransfer, timelapse_mp4: bytes | None, speed_sample) -> None:
        with self.store.lock:
            self.job.result = transfer.result
            if timelapse_mp4 is not None:
                self.job.timelapses["mp4"] = timelapse_mp4
            self.job.status, self.job.finished = status, time.time()  # one step: never "done" with no end time
            if speed_sample:
                self.store.meter.observe(*speed_sample)

    def fail(self, message: str) -> None:
        with self.store.lock:
            self.job.status, self.job.error, self.job.finished = FAILED, message, time.time()


_RUNNING: "weakref.WeakSet[LocalJobs]" = weakref.WeakSet()  # started and not yet shut down
_exit_handler = None


def _shut_down_all() -> None:
    for jobs in list(_RUNNING):
        jobs.shutdown(timeout=10.0)


def _stop_at_exit(jobs: "LocalJobs") -> None:
    """Shut down the executors still running at interpreter exit (a worker left in torch aborts it)."""
    global _exit_handler
    if not _exit_handler:  # registered once, however many come and go
        _exit_handler = atexit.register(_shut_down_all)
    _RUNNING.add(jobs)


class MemoryStore:
    """Jobs in this process's memory under one lock; the queue in fair order."""

    def __init__(self, limits: Limits):
        self.limits = limits
        self.lock = threading.Condition()
        self.jobs: dict[str, Job] = {}
        self.queue: list[str] = []  # queued job ids by their order
        self.meter = SpeedMeter()
        self.stats = MemoryStats()
        self.uploads = DiskUploads(limits.max_stored_uploads)

    def add(self, owner, client, settings, content, styles, start_image, note, photo=None) -> str:
        with self.lock:  # counted and taken in one step
            active = [(j.owner, j.client) for j in self.jobs.values() if j.status in (QUEUED, RUNNING)]
            standing = Standing.count(active, owner, client, len(self.queue))
            standing.check(self.limits)
            job = Job(id=str(uuid.uuid4()), owner=owner, settings=settings, content=content, styles=list(styles),
                      controls=Controls(), history=FrameHistory(self.limits.frame_history), client=client,
                      start_image=start_image, note=note, photo=photo)
            job.order = standing.queue_order(job.created)
            self.jobs[job.id] = job
            bisect.insort(self.queue, job.id, key=lambda i: self.jobs[i].order)
            self._expire()
            self.lock.notify_all()
            return job.id

    def owner(self, job_id: str) -> str | None:
        job = self.jobs.get(job_id)
        return job.owner if job is not None else None

    def view(self, job_id: str) -> JobView | None:
        with self.lock:
            job = self.jobs.get(job_id)
            return self._view(job) if job else None

    def views(self, owner: str) -> list[JobView]:
        with self.lock:
            return [self._view(j) for j in sorted(self.jobs.values(), key=lambda j: j.created) if j.owner == owner]

    def steer(self, job_id: str, weights: dict) -> None:
        with self.lock:
            self._job(job_id).controls.update(**weights)

    def cancel(self, job_id: str) -> str:
        with self.lock:
            job = self._job(job_id)
            if job.status == QUEUED:
                self.queue.remove(job.id)
                job.status, job.finished = STOPPED, time.time()
                job.content, job.styles, job.photo = None, [], None
                return "stopped"
            if job.status == RUNNING:
                job.controls.stop()
                return "stopping"
            return job.status

    def frame(self, job_id: str) -> tuple[int, bytes] | None:
        with self.lock:
            job = self._job(job_id)
            return (job.frame_seq, job.frame) if job.frame else None

    def losses(self, job_id: str, since: int) -> list[dict]:
        with self.lock:
            return [h for h in self._job(job_id).loss_history if h["iteration"] > since]

    def rerun_inputs(self, job_id, with_result):
        with self.lock:
            job = self._job(job_id)
            return job.content, list(job.styles), job.record().to_dict(), job.result if with_result else None

    def photo(self, job_id):
        with self.lock:
            return self._job(job_id).photo

    def result_parts(self, job_id):
        with self.lock:
            job = self._job(job_id)
            image, latest, record = job.result, job.frame, job.record().to_dict()
        if image is None and latest is not None:
            image = Image.open(io.BytesIO(latest)).convert("RGB")
        return None, image, record

    def timelapse_parts(self, job_id, fmt):
        with self.lock:
            job = self._job(job_id)
            return job.timelapses.get(fmt), list(job.history.frames), job.progress.get("size"), job.status in FINISHED

    def keep_timelapse(self, job_id, fmt, data):
        with self.lock:
            if job_id in self.jobs:
                self.jobs[job_id].timelapses[fmt] = data

    def finished_ids(self, owner):
        with self.lock:
            return [j.id for j in sorted(self.jobs.values(), key=lambda j: j.created)
                    if j.owner == owner and j.status in FINISHED]

    def delete(self, job_ids, owner):
        with self.lock:
            for job_id in job_ids:
                self.jobs.pop(job_id, None)

    def speed(self) -> SpeedMeter:
        return self.meter

    def counts(self) -> dict:
        with self.lock:
            return {"queued": len(self.queue), "running": sum(1 for j in self.jobs.values() if j.status == RUNNING)}

    def wait_change(self, timeout: float) -> None:
        with self.lock:
            self.lock.wait(timeout)

    def close(self) -> None:
        self.uploads.close()

    # ---------------------------------------------------------------- the executor's side (under the lock)

    def take_next(self, closing) -> Job | None:
        """The next queued job, marked running; None once ``closing()`` (it waits for one until then)."""
        with self.lock:
            while not self.queue and not closing():
                self.lock.wait()
            if closing():
                return None
            job = self.jobs[self.queue.pop(0)]
            job.status, job.started = RUNNING, time.time()
            return job

    def stop_all(self) -> None:
        with self.lock:
            for job in self.jobs.values():
                job.controls.stop()
            self.lock.notify_all()

    def _job(self, job_id: str) -> Job:
        job = self.jobs.get(job_id)
        if job is None:  # deleted between the owner's check and this step
            raise JobNotFound(job_id)
        return job

    def _view(self, job: Job) -> JobView:
        return job.view(self.queue.index(job.id) + 1 if job.status == QUEUED else 0)

    def _expire(self) -> None:
        """Anyone's finished jobs older than ``job_ttl_s`` go (Redis expires its keys by itself)."""
        expired = [j.id for j in self.jobs.values()
                   if j.status in FINISHED and j.finished and time.time() - j.finished > self.limits.job_ttl_s]
        for job_id in expired:
            del self.jobs[job_id]


class ThreadExecutor:
    """One worker thread per GPU, or one on the CPU, running ``store``'s queue; joined by :meth:`shutdown`."""

    def __init__(self, store: MemoryStore, devices: list[str] | None = None, preload: str | None = "vgg19",
                 nice: int = 10):
        if devices is None:
            devices = ([f"cuda:{i}" for i in range(torch.cuda.device_count())]
                       or [str(pick_device("auto"))])
        self.store = store
        self._devices = devices
        self._closing = False
        self._preload = preload
        self._nice = nice
        self._warm: set[str] = set()  # devices whose worker has loaded the default backbone
        self._weights_missing: str | None = None
        self._workers = [threading.Thread(target=self._work, args=(d,), name=f"stylize-{d}", daemon=True)
                         for d in devices]
        for t in self._workers:
            t.start()

    @property
    def devices(self) -> list[str]:
        return list(self._devices)

    def start(self, job_id: str) -> None:
        pass  # queued in the store, which woke the workers

    def workers(self) -> dict:
        alive: dict[str, int] = {}
        for device, thread in zip(self._devices, self._workers):
            if thread.is_alive():
                alive[device] = alive.get(device, 0) + 1
        return alive

    def not_ready(self) -> list[str]:
        reasons = []
        if not any(t.is_alive() for t in self._workers):
            reasons.append("no worker thread is running")
        if self._preload and not self._warm:
            reasons.append(self._weights_missing or f"the {self._preload} weights are still loading")
        return reasons

    def shutdown(self, timeout: float = 30.0) -> None:
        """Stop every job and join the workers: each ends the iteration (or the weight loading) it is in."""
        self._closing = True
        self.store.stop_all()
        deadline = time.time() + timeout
        for t in self._workers:
            if t is not threading.current_thread():
                t.join(max(0.0, deadline - time.time()))
        alive = [t.name for t in self._workers if t.is_alive()]
        if alive:
            log.warning("workers still busy after %.0f s: %s", timeout, ", ".join(alive))

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
            job = self.store.take_next(lambda: self._closing)
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
        store = self.store
        if store.meter.known or store.queue or self._closing:
            return

        def keep(measured: SpeedMeter, ours: SpeedMeter | None) -> bool:
            with store.lock:
                if store.meter.points != (ours.points if ours else []):  # a job on another device ended meanwhile
                    return False
                store.meter = measured
                return True

        # a job that arrives meanwhile does not wait for the measurement: it measures by ending
        calibrate_into(device, keep, lambda: self._closing or bool(store.queue), store.limits.max_size)

    def _run(self, job: Job, device: str) -> None:
        resume = start_checkpoint(job.start_image) if job.start_image is not None else None
        try:
            cost = self.store.meter.iteration_cost  # for the running ETA
            limits = self.store.limits
            run = JobRun(job.id, lambda: StyleTransfer(job.settings, job.controls, device, cost), job.content,
                         job.styles, resume, ProgressRecorder(limits, job.history), _LocalSink(self.store, job))
            run_job(run, limits, self.store.stats)
        finally:
            with self.store.lock:
                job.finished = job.finished or time.time()
                job.progress["eta"] = 0.0
                # the inputs stay with the job (bounded by STUDIO_MAX_JOBS_KEPT): "Run again" uses them
                self.store.lock.notify_all()


class LocalJobs(Jobs):
    """The job service with jobs in this process's memory and worker threads here (see the module)."""

    def __init__(self, devices: list[str] | None = None, limits: Limits | None = None,
                 preload: str | None = "vgg19", nice: int = 10):
        store = MemoryStore(limits or Limits())
        super().__init__(store, ThreadExecutor(store, devices, preload, nice))
        _stop_at_exit(self)  # once the interpreter ends, if not shut down before

    def shutdown(self, timeout: float = 30.0) -> None:
        """Stop every job, join the worker threads (each ends the iteration it is in) and drop the uploads."""
        _RUNNING.discard(self)
        self.executor.shutdown(timeout)
        self.store.close()
