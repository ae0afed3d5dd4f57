"""The scale-out job backend: jobs in Redis (:class:`RedisStore`), run by Celery workers (:class:`CeleryExecutor`)."""
from __future__ import annotations

import io
import json
import time
import uuid

from PIL import Image

from ..limits import Limits
from ..settings import steering
from .admission import ROUND, Standing
from .celery_app import make_celery, send
from .model import FINISHED, QUEUED, STOPPED, JobNotFound, JobView
from .progress import TIMELAPSE_FORMATS
from .redis_store import (ADMIT, CANCEL, DEMAND, JOB_SUFFIXES, QUEUE, RUNNING_SET, SPEED_KEY, connect, dumps,
                          expire_job, inputs_mapping, job_key, read_inputs, read_meta, session_key, to_view,
                          update_control, workers_alive)
from .service import Jobs
from .speed import SpeedMeter
from .stats import RedisStats
from .uploads import RedisUploads
from .watchdog import Watchdog

__all__ = ["CeleryExecutor", "RedisJobs", "RedisStore"]


class RedisStore:
    """Jobs in Redis for any number of web processes; a step that counts and writes is one Lua script."""

    def __init__(self, r, limits: Limits):
        self.r, self.limits = r, limits
        self.stats = RedisStats(r)
        self.uploads = RedisUploads(r, limits.max_stored_uploads)

    def add(self, owner, client, settings, content, styles, start_image, note, photo=None) -> str:
        job_id, now = str(uuid.uuid4()), time.time()
        meta = {"owner": owner, "client": client, "status": QUEUED, "settings": settings.to_dict(), "created": now,
                "order": now, "attempt": 1, "weights": settings.live_weights(), "events": [], "frame_seq": 0,
                "frames": 0, "note": note}
        pipe = self.r.pipeline()  # written first, in no list: nobody sees the job until ADMIT takes it
        pipe.hset(job_key(job_id), mapping={k: dumps(v) for k, v in meta.items()})
        pipe.hset(job_key(job_id, ":inputs"), mapping=inputs_mapping(content, styles, start_image, photo))
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
        return job_id

    def owner(self, job_id: str) -> str | None:
        raw = self.r.hget(job_key(job_id), "owner")  # one field: it is asked before every read of a job
        return json.loads(raw) if raw is not None else None

    def view(self, job_id: str) -> JobView | None:
        meta = read_meta(self.r, job_id)
        return None if meta is None else to_view(self.r, job_id, self._recorded(meta))

    def views(self, owner: str) -> list[JobView]:
        views = []
        for job_id in self._ids(owner):
            meta = read_meta(self.r, job_id)
            if meta is None:  # expired
                self.r.zrem(session_key(owner), job_id)
                continue
            views.append(to_view(self.r, job_id, self._recorded(meta)))
        return views

    def steer(self, job_id: str, weights: dict) -> None:
        update_control(self.r, job_id, weights)

    def cancel(self, job_id: str) -> str:
        outcome = self.r.eval(CANCEL, 5, job_key(job_id), job_key(job_id, ":inputs"), QUEUE,
                              job_key(job_id, ":control"), DEMAND, job_id, dumps(time.time()))
        return outcome.decode() if isinstance(outcome, bytes) else str(outcome)

    def frame(self, job_id: str) -> tuple[int, bytes] | None:
        meta = read_meta(self.r, job_id) or {}
        jpeg = self.r.get(job_key(job_id, ":frame"))
        return (meta.get("frame_seq", 0), jpeg) if jpeg else None

    def losses(self, job_id: str, since: int) -> list[dict]:
        # entries are one per iteration from 1, so iteration `since` + 1 is at index `since`
        return [e for e in (json.loads(x) for x in self.r.lrange(job_key(job_id, ":losses"), since, -1))
                if e["iteration"] > since]

    def rerun_inputs(self, job_id, with_result):
        record = self._recorded(self._meta(job_id))["settings"]
        content, styles, _ = read_inputs(self.r, job_id)
        result = self.r.get(job_key(job_id, ":result")) if with_result else None
        return content, styles, record, Image.open(io.BytesIO(result)).convert("RGB") if result else None

    def photo(self, job_id):
        return self.r.hget(job_key(job_id, ":inputs"), "photo")

    def result_parts(self, job_id):
        meta = self._meta(job_id)
        png = self.r.get(job_key(job_id, ":result"))  # the worker stored it with its record
        if png:
            return png, None, {}
        frame = self.r.get(job_key(job_id, ":frame"))
        return None, Image.open(io.BytesIO(frame)).convert("RGB") if frame else None, self._recorded(meta)["settings"]

    def timelapse_parts(self, job_id, fmt):
        meta = self._meta(job_id)
        cached = self.r.get(job_key(job_id, f":timelapse_{fmt}")) if fmt in TIMELAPSE_FORMATS else None
        frames = [] if cached else self.r.lrange(job_key(job_id, ":history"), 0, -1)
        return cached, frames, meta.get("size"), meta.get("status") in FINISHED

    def keep_timelapse(self, job_id, fmt, data):
        self.r.set(job_key(job_id, f":timelapse_{fmt}"), data, ex=int(self.limits.job_ttl_s))

    def finished_ids(self, owner):
        return [i for i in self._ids(owner) if (read_meta(self.r, i) or {}).get("status") in FINISHED]

    def delete(self, job_ids, owner):
        if job_ids:
            pipe = self.r.pipeline()
            for job_id in job_ids:
                pipe.delete(*(job_key(job_id, s) for s in JOB_SUFFIXES))
                pipe.zrem(session_key(owner), job_id)
            pipe.execute()

    def speed(self) -> SpeedMeter:
        return SpeedMeter.from_json(self.r.get(SPEED_KEY))

    def counts(self) -> dict:
        return {"queued": self.r.zcard(QUEUE), "running": self.r.zcard(RUNNING_SET)}

    def wait_change(self, timeout: float) -> None:
        time.sleep(min(timeout, 0.2))

    def close(self) -> None:
        self.r.close()

    def _ids(self, owner: str) -> list[str]:
        return [x.decode() for x in self.r.zrange(session_key(owner), 0, -1)]

    def _meta(self, job_id: str) -> dict:
        meta = read_meta(self.r, job_id)
        if meta is None:  # expired between the owner's check and this step
            raise JobNotFound(job_id)
        return meta

    @staticmethod
    def _recorded(meta: dict) -> dict:
        """The view's settings are the record: start settings, weight changes, where it stopped."""
        stop = meta.get("iteration", 0) if meta.get("status") == STOPPED else None
        return {**meta, "settings": {**meta["settings"], **steering(meta.get("events", []), stop)}}


class CeleryExecutor:
    """Jobs sent to the Celery workers; the watchdog thread is joined by :meth:`shutdown`."""

    def __init__(self, r, redis_url: str, limits: Limits, watchdog: bool = True):
        self.r = r
        self.celery = make_celery(redis_url, limits)
        self._watchdog = Watchdog(r, limits, self.send) if watchdog else None
        if self._watchdog:
            self._watchdog.start()

    def send(self, job_id: str, attempt: int) -> None:
        send(self.celery, job_id, attempt)

    @property
    def devices(self) -> list[str]:
        """The devices the workers registered, GPUs first; "cpu" before any has."""
        workers = {w["device"] for w in workers_alive(self.r)}
        return sorted(workers, key=lambda d: not d.startswith("cuda")) or ["cpu"]

    def start(self, job_id: str) -> None:
        self.send(job_id, 1)

    def workers(self) -> dict:
        alive: dict[str, int] = {}
        for w in workers_alive(self.r):
            alive[w["device"]] = alive.get(w["device"], 0) + 1
        return alive

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


class RedisJobs(Jobs):
    """The job service over Redis and Celery workers (see the module)."""

    def __init__(self, redis_url: str, limits: Limits | None = None, watchdog: bool = True):
        limits = limits or Limits()
        r = connect(redis_url)
        r.ping()  # fail at start-up, with Redis's own message, if it is not there
        super().__init__(RedisStore(r, limits), CeleryExecutor(r, redis_url, limits, watchdog))
