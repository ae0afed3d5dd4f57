"""A worker's side of one job: claim, heartbeat, checkpoints, hand-back, release (docs/deploy.md)."""
from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid

import numpy as np
import torch

from .. import images
from ..engine import Checkpoint, Controls, StyleTransfer
from ..engine.work import Work
from ..limits import Limits
from ..settings import Settings, check_live
from .admission import start_checkpoint
from .model import FAILED, ServiceUnavailable, user_message
from .progress import FrameHistory, ProgressRecorder, Update
from .redis_store import (CLAIM, DEMAND, FINISHED_JSON, HAND_BACK, HEARTBEAT, QUEUE, RELEASE, RUNNING_SET, SPEED_KEY,
                          Outage, append_loss, connect, dumps, expire_job, job_key, read_control, read_inputs,
                          read_meta, update_control)
from .runloop import JobRun, run_job
from .speed import SpeedMeter
from .stats import RedisStats

log = logging.getLogger(__name__)


class RedisControls(Controls):
    """The engine's controls, read from the job's control record in Redis at every iteration."""

    def __init__(self, r, job_id: str):
        super().__init__()
        self.r, self.job_id = r, job_id

    def update(self, **weights) -> dict:  # the engine replays a recorded schedule through this
        checked = check_live(weights)
        update_control(self.r, self.job_id, checked)
        return checked

    def snapshot(self) -> tuple[int, dict]:
        version, weights, _ = read_control(self.r, self.job_id)
        return version, {k: (tuple(v) if isinstance(v, list) else v) for k, v in weights.items()}

    @property
    def stopped(self) -> bool:
        return self._stop.is_set() or read_control(self.r, self.job_id)[2]


class Heartbeat(threading.Thread):
    """Renews the job's lease; once it was lost, the run stops and its final writes are skipped."""

    def __init__(self, r, job_id: str, token: str, limits: Limits, controls: Controls):
        super().__init__(name=f"heartbeat-{job_id[:8]}", daemon=True)
        self.r, self.job_id, self.token, self.limits, self.controls = r, job_id, token, limits, controls
        self.lost = False
        self.done = threading.Event()
        self.script = r.register_script(HEARTBEAT)

    def run(self) -> None:
        while not self.done.wait(self.limits.worker_lost_s / 4):
            try:
                ok = self.script(keys=[job_key(self.job_id, ":lease"), RUNNING_SET, job_key(self.job_id)],
                                 args=[self.token, int(self.limits.worker_lost_s * 1000), time.time(), self.job_id,
                                       dumps(self.token)])
            except Exception:  # noqa: BLE001 — Redis away for a moment: try again next beat
                log.warning("heartbeat for %s failed", self.job_id, exc_info=True)
                continue
            if not ok:
                self.lost = True
                self.controls.stop()
                return

    def stop(self) -> None:
        self.done.set()
        self.join()


class _RedisSink:
    """The job loop's output to Redis: each iteration in one round trip, a checkpoint every ``checkpoint_s``,
    nothing once the lease is lost."""

    def __init__(self, runner: "JobRunner", job_id: str, heartbeat: Heartbeat, history: FrameHistory,
                 events: list, frame_seq: int):
        self.runner, self.r, self.job_id, self.limits = runner, runner.r, job_id, runner.limits
        self.heartbeat, self.history, self.events, self.frame_seq = heartbeat, history, events, frame_seq
        self.latest = self.r.get(job_key(job_id, ":frame"))
        self.last_checkpoint = time.monotonic()
        self.handed_back = False

    @property
    def lost(self) -> bool:
        return self.heartbeat.lost or self.handed_back

    def latest_frame(self) -> bytes | None:
        return self.latest

    def apply(self, update: Update) -> None:
        job_id, pipe = self.job_id, self.r.pipeline()
        mapping = {k: dumps(v) for k, v in update.fields.items()}
        if update.loss_entry:
            append_loss(pipe, job_id, update.loss_entry)
        if update.event:
            self.events.append(update.event)
            mapping["events"] = dumps(self.events)
        if update.frame is not None:
            self.frame_seq += 1
            self.latest = update.frame
            pipe.set(job_key(job_id, ":frame"), update.frame)
            mapping.update(frame_seq=dumps(self.frame_seq), frame_time=dumps(update.frame_time))
            pipe.rpush(job_key(job_id, ":frame_log"), dumps([self.frame_seq, update.frame_time]))
            pipe.ltrim(job_key(job_id, ":frame_log"), -200, -1)
        if update.history == "append":
            pipe.rpush(job_key(job_id, ":history"), self.history.frames[-1])
        elif update.history == "thinned":
            pipe.delete(job_key(job_id, ":history"))
            pipe.rpush(job_key(job_id, ":history"), *self.history.frames)
        mapping.update(frames=dumps(len(self.history)), history_stride=dumps(self.history.stride),
                       history_offered=dumps(self.history.offered))
        pipe.hset(job_key(job_id), mapping=mapping)
        expire_job(pipe, job_id, self.limits.job_ttl_s)
        pipe.execute()
        waited = self.runner.outage.ended()
        if waited is not None:
            self.note(f"the job service was unreachable for {waited:.0f} s; the job waited on its worker and carried "
                      f"on at iteration {update.fields.get('iteration', '?')}")

    def after_iteration(self, transfer: StyleTransfer) -> None:
        if self.runner.draining.is_set():
            self.hand_back(transfer)
        elif time.monotonic() - self.last_checkpoint >= self.limits.checkpoint_s:
            write_checkpoint(self.r, self.job_id, transfer.checkpoint(), self.limits)
            self.last_checkpoint = time.monotonic()

    def hand_back(self, transfer: StyleTransfer) -> None:
        """Checkpoint and queue the job again at once for another worker (this one is stopping; no retry used)."""
        checkpoint = transfer.checkpoint()
        write_checkpoint(self.r, self.job_id, checkpoint, self.limits)
        note = (f"moved to another worker: its worker is stopping (it resumes at iteration "
                f"{checkpoint.iteration})")
        token = self.heartbeat.token
        attempt = self.r.eval(HAND_BACK, 4, job_key(self.job_id), job_key(self.job_id, ":lease"), RUNNING_SET, QUEUE,
                              self.job_id, token, dumps(note), dumps(token))
        if attempt:
            self.runner.send(self.job_id, int(attempt))
            log.info("job %s handed back at iteration %d as attempt %d", self.job_id, checkpoint.iteration, attempt)
        else:  # another worker has it, or it ended meanwhile: either way not this worker's to queue
            log.warning("job %s could not be handed back (its lease is another's or it ended); left to the "
                        "watchdog's recovery", self.job_id)
        self.handed_back = True

    def note(self, text: str) -> None:
        self.r.hset(job_key(self.job_id), "note", dumps(text))

    def finish(self, status: str, transfer: StyleTransfer, timelapse_mp4: bytes | None, speed_sample) -> None:
        job_id, pipe = self.job_id, self.r.pipeline()
        pipe.set(job_key(job_id, ":result"), images.png_bytes(transfer.result, transfer.record().to_dict()))
        if timelapse_mp4:
            pipe.set(job_key(job_id, ":timelapse_mp4"), timelapse_mp4)
        if speed_sample:
            observe_speed(self.r, *speed_sample)
        pipe.hset(job_key(job_id), mapping={"status": dumps(status), "finished": dumps(time.time()), "eta": "0",
                                            "events": dumps(self.events)})
        pipe.delete(job_key(job_id, ":checkpoint"))  # the inputs stay with the job, for "Run again"
        pipe.lrem(DEMAND, 0, job_id)
        pipe.zrem(RUNNING_SET, job_id)  # with the status, so no reader sees a finished job as running
        expire_job(pipe, job_id, self.limits.job_ttl_s)
        pipe.execute()

    def fail(self, message: str) -> None:
        mark_failed(self.r, self.job_id, message, self.limits)


def mark_failed(r, job_id: str, message: str, limits: Limits) -> None:
    pipe = r.pipeline()
    pipe.hset(job_key(job_id), mapping={"status": dumps(FAILED), "error": dumps(message),
                                        "finished": dumps(time.time()), "eta": "0"})
    pipe.delete(job_key(job_id, ":inputs"), job_key(job_id, ":checkpoint"))
    pipe.lrem(DEMAND, 0, job_id)
    pipe.zrem(RUNNING_SET, job_id)
    expire_job(pipe, job_id, limits.job_ttl_s)
    pipe.execute()


def observe_speed(r, seconds: float, work: Work) -> None:
    """Correct the workers' time model by one job (read-modify-write: a concurrent correction may be lost)."""
    r.set(SPEED_KEY, SpeedMeter.from_json(r.get(SPEED_KEY)).observe(seconds, work).to_json())


class JobRunner:
    """Runs one claimed job on this worker's device through the job loop, its live data going to Redis."""

    def __init__(self, redis_url: str, limits: Limits, device: str, send=lambda job_id, attempt: None):
        self.outage = Outage()
        self.r = connect(redis_url, self.outage)  # patient: a running job waits out a Redis restart
        self.limits, self.device, self.send = limits, device, send
        self.stats = RedisStats(self.r)
        self.draining = threading.Event()  # set when the worker is told to stop: the job goes back

    def run(self, named: str, named_attempt: int) -> str:
        """One turn from a message naming job ``named``: run the queue's head, whichever job that is."""
        token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        claim = [x.decode() for x in self.r.eval(
            CLAIM, 3, QUEUE, RUNNING_SET, job_key(""), named, named_attempt, token,
            int(self.limits.worker_lost_s * 1000), dumps(time.time()), *FINISHED_JSON)]
        if claim[0] != "ok":
            log.info("job %s attempt %s not run: %s", named, named_attempt, claim[0])
            return claim[0]
        job_id, attempt = claim[1], int(claim[2])
        controls = RedisControls(self.r, job_id)
        heartbeat = Heartbeat(self.r, job_id, token, self.limits, controls)
        heartbeat.start()
        try:
            self._run(job_id, attempt, controls, heartbeat, token)
        except ServiceUnavailable:  # Redis away past this stopping worker's deadline: recovery's job now
            log.warning("job %s left running in Redis for the watchdog to recover", job_id)
            return "left"
        except Exception as exc:  # before the job loop (its inputs unreadable): the job fails, not the worker
            log.exception("job %s failed", job_id)
            if not heartbeat.lost:
                mark_failed(self.r, job_id, user_message(exc), self.limits)
                self.stats.job_finished(FAILED, self.device, 0, 0.0, 0)
        finally:
            heartbeat.stop()
            try:
                self.r.eval(RELEASE, 3, job_key(job_id, ":lease"), RUNNING_SET, job_key(job_id), token, job_id)
            except ServiceUnavailable:  # the lease expires by itself
                pass
        return "ran"

    def _run(self, job_id: str, attempt: int, controls: RedisControls, heartbeat: Heartbeat, token: str) -> None:
        """Where the job starts (a checkpoint, a result to continue, or the beginning), then the loop."""
        r = self.r
        meta = read_meta(r, job_id)
        content, styles, start = read_inputs(r, job_id)
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
        fields = {"device": self.device, "worker": token, "events": events}
        same = str(meta.get("worker", "")).rsplit(":", 1)[0] == token.rsplit(":", 1)[0]  # host:pid of the last run
        where = "on the same worker" if same else "on another worker"
        if resumed:
            why = "its worker was stopped" if meta.get("handover") else "its worker was lost"
            fields["note"] = f"resumed at iteration {checkpoint.iteration} {where}: {why} (attempt {attempt})"
            pipe.ltrim(job_key(job_id, ":losses"), 0, checkpoint.iteration - 1)
        elif attempt > 1:  # lost before its first checkpoint: it starts again from the beginning
            fields["note"] = f"started again {where} after its worker was lost (attempt {attempt})"
            for suffix in (":losses", ":history", ":frame_log"):
                pipe.delete(job_key(job_id, suffix))
        pipe.hset(job_key(job_id), mapping={k: dumps(v) for k, v in fields.items()})
        pipe.execute()
        sink = _RedisSink(self, job_id, heartbeat, history, events, meta.get("frame_seq", 0))
        cost = SpeedMeter.from_json(self.r.get(SPEED_KEY)).iteration_cost  # for the running ETA
        run = JobRun(job_id, lambda: StyleTransfer(Settings.from_dict(meta["settings"]), controls, self.device, cost),
                     content, styles, checkpoint, ProgressRecorder(self.limits, history), sink,
                     measure_speed=attempt == 1)
        run_job(run, self.limits, self.stats)


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
