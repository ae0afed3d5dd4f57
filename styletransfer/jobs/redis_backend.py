"""The scale-out backend: web processes keep no job state; Redis holds it, Celery workers run the jobs.

Selected by ``STUDIO_REDIS_URL``. The same interface as :class:`~.local.LocalJobs` (``backend.py``); the
keys are described in ``redis_store.py``; a worker's side is ``runner.py`` (one job), ``watchdog.py``
(recovery) and ``worker_app.py`` (the process).
"""
from __future__ import annotations

import io
import json
import time
import uuid

from PIL import Image

from ..engine import resolve
from ..limits import Limits
from ..settings import Settings, check_live, plain, steering
from .admission import ROUND, Standing, admit
from .celery_app import make_celery, send
from .model import FINISHED, QUEUED, STOPPED, JobView, check_changeable
from .progress import TIMELAPSE_FORMATS
from .redis_store import (ADMIT, CANCEL, DEMAND, JOB_SUFFIXES, QUEUE, RUNNING_SET, SPEED_KEY, connect, dumps,
                          expire_job, inputs_mapping, job_key, read_inputs, read_meta, session_key, to_view,
                          update_control, workers_alive)
from .service import JobRules
from .speed import SpeedMeter
from .stats import RedisStats, Snapshot
from .uploads import RedisUploads
from .watchdog import Watchdog


class RedisJobs(JobRules[dict]):
    """Jobs in Redis, run by Celery workers; any number of web processes may use it at once. Its one
    thread, the watchdog, starts with it and is joined by :meth:`shutdown`."""

    def __init__(self, redis_url: str, limits: Limits | None = None, watchdog: bool = True):
        self.limits = limits or Limits()
        self.r = connect(redis_url)
        self.r.ping()  # fail at start-up, with Redis's own message, if it is not there
        self._stats = RedisStats(self.r)
        self.uploads = RedisUploads(self.r, self.limits.max_stored_uploads)
        self.celery = make_celery(redis_url, self.limits)
        self._send = lambda job_id, attempt: send(self.celery, job_id, attempt)
        self._watchdog = Watchdog(self.r, self.limits, self._send) if watchdog else None
        if self._watchdog:
            self._watchdog.start()

    @property
    def devices(self) -> list[str]:
        """The devices the workers registered, GPUs first; "cpu" before any has."""
        workers = {w["device"] for w in workers_alive(self.r)}
        return sorted(workers, key=lambda d: not d.startswith("cuda")) or ["cpu"]

    # ---------------------------------------------------------------- the interface

    def submit(self, owner: str, content: Image.Image, styles: list[Image.Image], settings: Settings,
               start_image: Image.Image | None = None, note: str | None = None, client: str | None = None) -> JobView:
        settings, content, styles = admit(settings, content, styles, self.limits, self.devices[0])
        job_id, now = str(uuid.uuid4()), time.time()
        meta = {"owner": owner, "client": client, "status": QUEUED, "settings": settings.to_dict(), "created": now,
                "order": now, "attempt": 1, "weights": settings.live_weights(), "events": [], "frame_seq": 0,
                "frames": 0, "note": note}
        pipe = self.r.pipeline()  # written first, in no list: nobody sees the job until ADMIT takes it
        pipe.hset(job_key(job_id), mapping={k: dumps(v) for k, v in meta.items()})
        pipe.hset(job_key(job_id, ":inputs"), mapping=inputs_mapping(content, styles, start_image))
        pipe.hset(job_key(job_id, ":control"), mapping={"version": 0, "weights": "{}", "stop": 0})
        expire_job(pipe, job_id, self.limits.job_ttl_s)
        pipe.execute()
        limits = self.limits
        taken, *counts = self.r.eval(
            ADMIT, 5, QUEUE, RUNNING_SET, job_key(job_id), session_key(owner), DEMAND,
            job_id, dumps(owner), dumps(client) if client is not None else "", repr(now), int(limits.job_ttl_s),
            repr(ROUND), limits.max_queued_per_session, limits.max_queued_per_client, limits.max_queued_total,
            job_key(""))
        if not taken:
            self.r.delete(*(job_key(job_id, s) for s in JOB_SUFFIXES))
            Standing(*counts).check(limits)
            raise AssertionError(f"ADMIT refused a job within the caps {counts}")  # a bug: logged as a 500
        self._send(job_id, 1)
        self._stats.count("jobs_submitted_total")
        self._forget_old(owner)
        return self._view(job_id, owner)

    def get(self, job_id: str, owner: str) -> JobView | None:
        meta = self._owned(job_id, owner)
        return None if meta is None else to_view(self.r, job_id, self._recorded(meta))

    def list(self, owner: str) -> list[JobView]:
        views = []
        for job_id in self._ids(owner):
            meta = read_meta(self.r, job_id)
            if meta is None:  # expired
                self.r.zrem(session_key(owner), job_id)
                continue
            views.append(to_view(self.r, job_id, self._recorded(meta)))
        return views

    def update(self, job_id: str, owner: str, **weights) -> JobView:
        view = self._view(job_id, owner)
        check_changeable(view.status)
        checked = check_live(weights)
        update_control(self.r, job_id, checked)
        view.weights.update(plain(checked))
        return view

    def cancel(self, job_id: str, owner: str) -> JobView:
        self._require(job_id, owner)
        outcome = self.r.eval(CANCEL, 5, job_key(job_id), job_key(job_id, ":inputs"), QUEUE,
                              job_key(job_id, ":control"), DEMAND, job_id, dumps(time.time()))
        if outcome == b"stopped":  # a queued job that never ran; a running one is counted when it ends
            self._stats.count("jobs_finished_total", outcome="cancelled")
        view = self._view(job_id, owner)
        self._forget_old(owner)
        return view

    def frame(self, job_id: str, owner: str) -> tuple[int, bytes] | None:
        meta = self._require(job_id, owner)
        jpeg = self.r.get(job_key(job_id, ":frame"))
        return (meta.get("frame_seq", 0), jpeg) if jpeg else None

    def loss_history(self, job_id: str, owner: str, since: int = 0) -> list[dict]:
        self._require(job_id, owner)
        # entries are one per iteration from 1, so iteration `since` + 1 is at index `since`
        return [e for e in (json.loads(x) for x in self.r.lrange(job_key(job_id, ":losses"), since, -1))
                if e["iteration"] > since]

    def estimate(self, settings: Settings, content_wh: tuple[int, int] | None = None) -> float | None:
        """Seconds such a job would take on the workers, from their measured speed (None before any)."""
        return SpeedMeter.from_json(self.r.get(SPEED_KEY)).estimate(resolve(settings, self.devices[0]), content_wh)

    def wait(self, job_id: str, owner: str, timeout: float = 60.0) -> JobView | None:
        deadline = time.time() + timeout
        while True:
            view = self.get(job_id, owner)
            if view is None or view.is_finished or time.time() >= deadline:
                return view
            time.sleep(0.2)

    def stats(self) -> Snapshot:
        return self._stats.snapshot()

    def load(self) -> dict:
        workers: dict[str, int] = {}
        for w in workers_alive(self.r):
            workers[w["device"]] = workers.get(w["device"], 0) + 1
        return {"queued": self.r.zcard(QUEUE), "running": self.r.zcard(RUNNING_SET), "workers": workers}

    def not_ready(self) -> list[str]:
        try:
            self.r.ping()
            alive = workers_alive(self.r)
        except Exception as exc:  # noqa: BLE001 — any failure to reach Redis is the reason
            return [f"Redis does not answer ({exc.__class__.__name__})"]
        # a worker announces itself once its weights are loaded and its speed measured
        return [] if alive else ["no worker is alive: start one (python -m styletransfer.worker)"]

    def shutdown(self) -> None:
        if self._watchdog:
            self._watchdog.stop()
        self.r.close()

    # ---------------------------------------------------------------- internals

    def _ids(self, owner: str) -> list[str]:
        return [x.decode() for x in self.r.zrange(session_key(owner), 0, -1)]

    def _find(self, job_id: str):
        meta = read_meta(self.r, job_id)
        return (meta, meta.get("owner")) if meta is not None else None

    def _view(self, job_id: str, owner: str) -> JobView:
        """The owner's job as a view; JobNotFound otherwise."""
        return to_view(self.r, job_id, self._recorded(self._require(job_id, owner)))

    @staticmethod
    def _recorded(meta: dict) -> dict:
        """The view's settings are the record: start settings, weight changes, where it stopped."""
        stop = meta.get("iteration", 0) if meta.get("status") == STOPPED else None
        return {**meta, "settings": {**meta["settings"], **steering(meta.get("events", []), stop)}}

    def _rerun_inputs(self, job_id, owner, with_result):
        record = self._recorded(self._require(job_id, owner))["settings"]
        content, styles, _ = read_inputs(self.r, job_id)
        result = self.r.get(job_key(job_id, ":result")) if with_result else None
        return content, styles, record, Image.open(io.BytesIO(result)).convert("RGB") if result else None

    def _result_parts(self, job_id, owner):
        meta = self._require(job_id, owner)
        png = self.r.get(job_key(job_id, ":result"))  # the worker stored it with its record
        if png:
            return png, None, {}
        frame = self.r.get(job_key(job_id, ":frame"))
        return None, Image.open(io.BytesIO(frame)).convert("RGB") if frame else None, self._recorded(meta)["settings"]

    def _timelapse_parts(self, job_id, owner, fmt):
        meta = self._require(job_id, owner)
        cached = self.r.get(job_key(job_id, f":timelapse_{fmt}")) if fmt in TIMELAPSE_FORMATS else None
        frames = [] if cached else self.r.lrange(job_key(job_id, ":history"), 0, -1)
        return cached, frames, meta.get("size"), meta.get("status") in FINISHED

    def _keep_timelapse(self, job_id, fmt, data):
        self.r.set(job_key(job_id, f":timelapse_{fmt}"), data, ex=int(self.limits.job_ttl_s))

    def _finished_ids(self, owner):
        return [i for i in self._ids(owner) if (read_meta(self.r, i) or {}).get("status") in FINISHED]

    def _delete(self, job_ids, owner):
        if job_ids:
            pipe = self.r.pipeline()
            for job_id in job_ids:
                pipe.delete(*(job_key(job_id, s) for s in JOB_SUFFIXES))
                pipe.zrem(session_key(owner), job_id)
            pipe.execute()
