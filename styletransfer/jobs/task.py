"""The Celery app and the one task, ``styletransfer.run_job(job_id, attempt)``, that workers run.

A worker (``python -m styletransfer.worker``) runs one job at a time and reserves none beyond it: late
acknowledgement, prefetch 1, the solo pool. Who runs a job is decided in Redis, not by Celery's delivery:

* the task first *claims* the job (``CLAIM``): only the current attempt, only a job not yet finished, and
  only one holder of the job's lease; anything else (a message redelivered after Redis's visibility
  timeout while the job still runs — celery#5935 — or one left from a lost worker and already run
  again) is acknowledged and dropped, so a job never runs twice at the same time;
* while it runs, a heartbeat thread renews the lease every ``worker_lost_s / 4``;
* the watchdog (``recover_lost``, in every worker and every web process) queues a job again, as its next
  attempt, once its heartbeat has been silent for ``worker_lost_s``; the new attempt resumes from the last
  checkpoint (image, scale, iteration, weights in force); a job lost twice fails with a message saying so.

Celery's own redelivery is therefore not relied on for recovery (with ``task_reject_on_worker_lost`` off, a
killed child's message is acknowledged, not requeued in a loop — celery#7651's poison loop), and Redis's
visibility timeout is set long, to make its duplicate deliveries rare; the claim makes them harmless.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import socket
import threading
import time
import uuid

import numpy as np
import torch
from celery import Celery, signals

from .. import images
from ..engine import Checkpoint, Controls, StyleTransfer
from ..limits import Limits
from ..settings import Settings, check_setting
from .base import (DONE, EXPECTED_FAILURES, FAILED, STOPPED, FrameHistory, ProgressRecorder, SpeedMeter, Update,
                   calibrate, encode_timelapse, start_checkpoint, user_message)
from .local import time_limit_note
from .redis_store import (CLAIM, FINISHED_JSON, HEARTBEAT, QUEUE, RELEASE, RUNNING_SET, SPEED_KEY, WORKERS_KEY,
                          connect, dumps, expire_job, job_key, read_control, read_inputs, read_meta, recover_lost,
                          update_control)

log = logging.getLogger(__name__)

TASK_NAME = "styletransfer.run_job"
QUEUE_NAME = "styletransfer"


def make_celery(redis_url: str, limits: Limits | None = None) -> Celery:
    limits = limits or Limits()
    app = Celery("styletransfer", broker=redis_url)
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


class RedisControls(Controls):
    """The engine's controls, read from the job's control record in Redis at every iteration."""

    def __init__(self, r, job_id: str):
        super().__init__()
        self.r, self.job_id = r, job_id

    def update(self, **weights) -> dict:  # the engine replays a recorded schedule through this
        checked = {k: check_setting(k, v) for k, v in weights.items()}
        update_control(self.r, self.job_id, checked)
        return checked

    def snapshot(self) -> tuple[int, dict]:
        version, weights, _ = read_control(self.r, self.job_id)
        return version, {k: (tuple(v) if isinstance(v, list) else v) for k, v in weights.items()}

    @property
    def stopped(self) -> bool:
        return self._stop.is_set() or read_control(self.r, self.job_id)[2]


class Heartbeat(threading.Thread):
    """Renews the job's lease; if it was lost (this worker stalled past the limit) the run is stopped and
    its final writes are skipped: another worker owns the job now."""

    def __init__(self, r, job_id: str, token: str, limits: Limits, controls: Controls):
        super().__init__(name=f"heartbeat-{job_id[:8]}", daemon=True)
        self.r, self.job_id, self.token, self.limits, self.controls = r, job_id, token, limits, controls
        self.lost = False
        self.done = threading.Event()
        self.script = r.register_script(HEARTBEAT)

    def run(self) -> None:
        while not self.done.wait(self.limits.worker_lost_s / 4):
            try:
                ok = self.script(keys=[job_key(self.job_id, ":lease"), RUNNING_SET],
                                 args=[self.token, int(self.limits.worker_lost_s * 1000), time.time(), self.job_id])
            except Exception:  # noqa: BLE001 — Redis away for a moment: try again next beat
                log.warning("heartbeat for %s failed", self.job_id, exc_info=True)
                continue
            if not ok:
                self.lost = True
                self.controls.stop()
                return


class JobRunner:
    """Runs one claimed job on this worker's device, writing its live data to Redis as it goes."""

    def __init__(self, r, limits: Limits, device: str):
        self.r, self.limits, self.device = r, limits, device

    def run(self, job_id: str, attempt: int) -> str:
        token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        claim = self.r.eval(CLAIM, 4, job_key(job_id), job_key(job_id, ":lease"), QUEUE, RUNNING_SET, job_id,
                            attempt, token, int(self.limits.worker_lost_s * 1000), dumps(time.time()),
                            *FINISHED_JSON).decode()
        if claim != "ok":
            log.info("job %s attempt %s not run: %s", job_id, attempt, claim)
            return claim
        controls = RedisControls(self.r, job_id)
        heartbeat = Heartbeat(self.r, job_id, token, self.limits, controls)
        heartbeat.start()
        try:
            self._run(job_id, attempt, controls, heartbeat, token)
        except Exception as exc:  # a failing job must never take the worker with it
            if not isinstance(exc, EXPECTED_FAILURES):
                log.exception("job %s failed", job_id)
            if not heartbeat.lost:
                pipe = self.r.pipeline()
                pipe.hset(job_key(job_id), mapping={"status": dumps(FAILED), "error": dumps(user_message(exc)),
                                                    "finished": dumps(time.time()), "eta": "0"})
                pipe.delete(job_key(job_id, ":inputs"), job_key(job_id, ":checkpoint"))
                expire_job(pipe, job_id, self.limits.job_ttl_s)
                pipe.execute()
        finally:
            heartbeat.done.set()
            self.r.eval(RELEASE, 2, job_key(job_id, ":lease"), RUNNING_SET, token, job_id)
        return "ran"

    def _run(self, job_id: str, attempt: int, controls: RedisControls, heartbeat: Heartbeat, token: str) -> None:
        r = self.r
        meta = read_meta(r, job_id)
        settings = Settings.from_dict({**meta["settings"], "device": self.device})
        content, styles, start = read_inputs(r, job_id)
        transfer = StyleTransfer(settings, controls)
        # the seed and iterations chosen now are the job's from here on: a resumed attempt uses the same
        run_settings = {**meta["settings"], "seed": transfer.settings.seed, "iterations": transfer.settings.iterations}
        checkpoint = read_checkpoint(r, job_id) if attempt > 1 else None
        if checkpoint is None and start is not None:  # "Continue": from a finished job's result
            checkpoint = start_checkpoint(start)
        resumed = attempt > 1 and checkpoint is not None and checkpoint.iteration > 0
        history = FrameHistory(self.limits.frame_history,
                               frames=r.lrange(job_key(job_id, ":history"), 0, -1) if resumed else [],
                               stride=meta.get("history_stride", 1) if resumed else 1,
                               offered=meta.get("history_offered", 0) if resumed else 0)
        events = list(checkpoint.events) if checkpoint else []
        pipe = r.pipeline()
        fields = {"settings": run_settings, "device": self.device, "worker": token,
                  "events": events}
        if resumed:
            fields["note"] = (f"resumed at iteration {checkpoint.iteration} on another worker after its worker "
                              f"was lost (attempt {attempt})")
            pipe.ltrim(job_key(job_id, ":losses"), 0, checkpoint.iteration - 1)
        elif attempt > 1:  # lost before its first checkpoint: it starts again from the beginning
            fields["note"] = f"started again on another worker after its worker was lost (attempt {attempt})"
            for suffix in (":losses", ":history", ":frame_log"):
                pipe.delete(job_key(job_id, suffix))
        pipe.hset(job_key(job_id), mapping={k: dumps(v) for k, v in fields.items()})
        pipe.execute()

        recorder = ProgressRecorder(self.limits, history)
        self.frame_seq = meta.get("frame_seq", 0)
        last_checkpoint = time.monotonic()
        latest_frame = r.get(job_key(job_id, ":frame"))
        last_elapsed = 0.0
        for p in transfer.run(content, styles, resume=checkpoint):
            last_elapsed = p.elapsed
            if heartbeat.lost:
                return
            update = recorder.record(p)
            if update.event:
                events.append(update.event)
            self._write(job_id, update, events, history)
            if update.frame is not None:
                latest_frame = update.frame
            if time.monotonic() - last_checkpoint >= self.limits.checkpoint_s:
                write_checkpoint(r, job_id, transfer.checkpoint(), self.limits)
                last_checkpoint = time.monotonic()
            if p.elapsed > self.limits.max_job_seconds and not controls.stopped:
                controls.stop()
                r.hset(job_key(job_id), "note", dumps(time_limit_note(self.limits)))
        if heartbeat.lost:
            return
        result = transfer.result
        final = recorder.final_frame(result, latest_frame)
        if final is not None:
            self._write(job_id, final, events, history)
        stopped = transfer.stopped
        # the record names the device the job asked for ("auto"), not this worker's: it replays anywhere
        record = dataclasses.replace(transfer.record(), device=meta["settings"]["device"])
        pipe = r.pipeline()
        pipe.set(job_key(job_id, ":result"), images.png_bytes(result, record.to_dict()))
        mp4 = encode_timelapse(list(history.frames), list(result.size), "mp4")
        if mp4:
            pipe.set(job_key(job_id, ":timelapse_mp4"), mp4)
        if not stopped and attempt == 1 and last_elapsed:
            self.observe_speed(meta.get("work", 0.0), last_elapsed)
        pipe.hset(job_key(job_id), mapping={"status": dumps(STOPPED if stopped else DONE),
                                            "finished": dumps(time.time()), "eta": "0", "events": dumps(events)})
        pipe.delete(job_key(job_id, ":checkpoint"))  # the inputs stay with the job, for "Run again"
        expire_job(pipe, job_id, self.limits.job_ttl_s)
        pipe.execute()

    def observe_speed(self, work: float, seconds: float) -> None:
        raw = self.r.get(SPEED_KEY)
        meter = SpeedMeter(float(raw) if raw else None)
        if meter.observe(seconds, work) is not None:
            self.r.set(SPEED_KEY, meter.value)

    def _write(self, job_id: str, update: Update, events: list, history: FrameHistory) -> None:
        """One iteration's changes in one round trip."""
        pipe = self.r.pipeline()
        key = job_key(job_id)
        mapping = {k: dumps(v) for k, v in update.fields.items()}
        if update.loss_entry:
            pipe.rpush(job_key(job_id, ":losses"), dumps(update.loss_entry))
        if update.event:
            mapping["events"] = dumps(events)
        if update.frame is not None:
            self.frame_seq += 1
            pipe.set(job_key(job_id, ":frame"), update.frame)
            mapping.update(frame_seq=dumps(self.frame_seq), frame_time=dumps(update.frame_time))
            pipe.rpush(job_key(job_id, ":frame_log"), dumps([self.frame_seq, update.frame_time]))
            pipe.ltrim(job_key(job_id, ":frame_log"), -200, -1)
        if update.history == "append":
            pipe.rpush(job_key(job_id, ":history"), history.frames[-1])
        elif update.history == "thinned":
            pipe.delete(job_key(job_id, ":history"))
            pipe.rpush(job_key(job_id, ":history"), *history.frames)
        mapping.update(frames=dumps(len(history)), history_stride=dumps(history.stride),
                       history_offered=dumps(history.offered))
        pipe.hset(key, mapping=mapping)
        expire_job(pipe, job_id, self.limits.job_ttl_s)
        pipe.execute()


def write_checkpoint(r, job_id: str, checkpoint: Checkpoint | None, limits: Limits) -> None:
    if checkpoint is None:
        return
    image = checkpoint.image.contiguous().numpy().astype(np.float32)
    r.hset(job_key(job_id, ":checkpoint"), mapping={
        "scale": checkpoint.scale, "iteration": checkpoint.iteration, "shape": dumps(list(image.shape)),
        "image": image.tobytes(), "events": dumps(checkpoint.events), "control_version": checkpoint.control_version})
    r.expire(job_key(job_id, ":checkpoint"), int(limits.job_ttl_s))


def read_checkpoint(r, job_id: str) -> Checkpoint | None:
    raw = r.hgetall(job_key(job_id, ":checkpoint"))
    if not raw:
        return None
    shape = json.loads(raw[b"shape"])
    image = torch.from_numpy(np.frombuffer(raw[b"image"], dtype=np.float32).reshape(shape).copy())
    return Checkpoint(scale=int(raw[b"scale"]), iteration=int(raw[b"iteration"]), image=image,
                      events=json.loads(raw[b"events"]), control_version=int(raw[b"control_version"]))


# ------------------------------------------------------------------ the worker's side

REDIS_URL = os.environ.get("STUDIO_REDIS_URL", "redis://127.0.0.1:6379/0")
celery_app = make_celery(REDIS_URL)
_runner: JobRunner | None = None


def _worker_runner() -> JobRunner:
    global _runner
    if _runner is None:
        from ..engine import pick_device

        limits = Limits.from_env()
        device = str(pick_device(os.environ.get("STYLETRANSFER_DEVICE", "auto")))
        _runner = JobRunner(connect(REDIS_URL), limits, device)
    return _runner


@celery_app.task(name=TASK_NAME, acks_late=True, ignore_result=True)
def run_job(job_id: str, attempt: int = 1) -> str:
    return _worker_runner().run(job_id, attempt)


@signals.worker_ready.connect
def _start_watchdog(**_):
    """Every worker also watches for jobs whose worker was lost, so recovery needs no extra process."""
    runner = _worker_runner()
    Watchdog(runner.r, runner.limits, lambda job_id, attempt: send(celery_app, job_id, attempt)).start()
    if not runner.r.exists(SPEED_KEY):  # the page's first estimate: measured here, once
        try:
            runner.r.set(SPEED_KEY, SpeedMeter().observe(*calibrate(runner.device)))
        except Exception:  # noqa: BLE001 — no estimate yet is not a reason to stop a worker
            log.warning("speed calibration failed", exc_info=True)
    # say which device this worker offers, for the page's defaults
    runner.r.hset(WORKERS_KEY, socket.gethostname() + f":{os.getpid()}", runner.device)
    runner.r.expire(WORKERS_KEY, 3600)


class Watchdog(threading.Thread):
    def __init__(self, r, limits: Limits, send_fn):
        super().__init__(name="job-watchdog", daemon=True)
        self.r, self.limits, self.send_fn = r, limits, send_fn
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(max(0.5, self.limits.worker_lost_s / 4)):
            try:
                for job_id, attempt in recover_lost(self.r, self.limits.worker_lost_s, self.send_fn):
                    log.warning("job %s: worker lost; %s", job_id,
                                "failed (lost twice)" if attempt < 0 else f"queued again as attempt {attempt}")
            except Exception:  # noqa: BLE001 — Redis away for a moment: look again next round
                log.warning("watchdog round failed", exc_info=True)
