"""A job's state in Redis and the atomic (Lua) steps that decide who runs it (keys: docs/architecture.md)."""
from __future__ import annotations

import io
import json
import logging
import threading
import time

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry
from PIL import Image

from .. import images
from ..settings import plain
from .model import FINISHED, QUEUED, JobView, ServiceUnavailable, Status

PREFIX = "st:"
QUEUE = PREFIX + "queue"
RUNNING_SET = PREFIX + "running"
DEMAND = PREFIX + "demand"
WORKER_PREFIX = PREFIX + "worker:"
SPEED_KEY = PREFIX + "speed"  # seconds per unit of work on the workers (base.SpeedMeter), for estimates
JOB_SUFFIXES = ("", ":inputs", ":control", ":frame", ":frame_log", ":history", ":losses", ":checkpoint", ":result",
                ":timelapse_mp4", ":timelapse_gif", ":lease")
MAX_ATTEMPTS = 2  # a job whose worker is lost twice fails instead of killing a third (no poison loop)


def job_key(job_id: str, suffix: str = "") -> str:
    return f"{PREFIX}job:{job_id}{suffix}"


def session_key(owner: str) -> str:
    return f"{PREFIX}session:{owner}"


log = logging.getLogger(__name__)


class Outage(ExponentialBackoff):
    """How a worker's client waits out Redis's absence (commands retried), and when the wait began."""

    def __init__(self):
        super().__init__(cap=2.0, base=0.1)
        self._lock = threading.Lock()
        self.since: float | None = None
        self.deadline: float | None = None  # set when the worker stops: it waits no longer than its grace

    def __deepcopy__(self, memo):
        return self

    def give_up_after(self, seconds: float) -> None:
        """From now on a command waits at most ``seconds`` more, then raises :class:`ServiceUnavailable`."""
        with self._lock:
            self.deadline = time.time() + seconds if self.deadline is None else self.deadline

    def compute(self, failures: int) -> float:
        with self._lock:
            if self.since is None:
                self.since = time.time()
                log.warning("Redis does not answer: waiting for it, the running job kept in memory")
            if self.deadline is not None and time.time() >= self.deadline:
                raise ServiceUnavailable("Redis did not come back before this worker's stop deadline")
        return super().compute(failures)

    def ended(self) -> float | None:
        """After a command that went through: the seconds of the wait it ended, once; else None."""
        with self._lock:
            since, self.since = self.since, None
        if since is not None:
            log.warning("Redis answers again after %.0f s", time.time() - since)
        return None if since is None else time.time() - since


def connect(url: str, outage: Outage | None = None) -> redis.Redis:
    """A client for ``url``: with ``outage``, commands wait for Redis; without, they fail fast."""
    patient = ({"retry": Retry(outage, -1), "retry_on_error": [redis.ConnectionError, redis.TimeoutError]}
               if outage else {})
    return redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5, health_check_interval=30,
                                **patient)


def dumps(value) -> str:
    return json.dumps(value, separators=(",", ":"))


def read_meta(r: redis.Redis, job_id: str) -> dict | None:
    raw = r.hgetall(job_key(job_id))
    if not raw:
        return None
    return {k.decode(): json.loads(v) for k, v in raw.items()}


def to_view(r: redis.Redis, job_id: str, meta: dict) -> JobView:
    position = 0
    if meta.get("status") == QUEUED:
        rank = r.zrank(QUEUE, job_id)
        position = rank + 1 if rank is not None else 0
    log = [json.loads(x) for x in r.lrange(job_key(job_id, ":frame_log"), 0, -1)]
    return JobView(
        id=job_id, status=Status(meta["status"]), settings=meta["settings"], weights=meta.get("weights", {}),
        created=meta["created"], queue_position=position, iteration=meta.get("iteration", 0),
        total_iterations=meta.get("total_iterations", 0), scale=meta.get("scale", 0), scales=meta.get("scales", 0),
        size=meta.get("size"), eta=meta.get("eta"), elapsed=meta.get("elapsed", 0.0), losses=meta.get("losses", {}),
        events=meta.get("events", []), error=meta.get("error"), note=meta.get("note"),
        frame_seq=meta.get("frame_seq", 0), frame_time=meta.get("frame_time"), frame_log=log,
        frames=meta.get("frames", 0), started=meta.get("started"), finished=meta.get("finished"),
        device=meta.get("device"), attempt=meta.get("attempt", 1), has_result=meta.get("frame_seq", 0) > 0,
    )


# Admission's caps counted and the job taken in one step, across threads and web processes: the session's,
# the client's (its address, all sessions) and the server's queued jobs (``admission.Standing``), from the
# owner and client of every queued or running job. Returns {taken (0/1), for_owner, for_client, queued};
# when taken, the job (its hash already written) joins the queue in fair order, its session and the demand.
ADMIT = """
local queue, running, job, session, demand = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local id, owner, client, now = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local prefix = ARGV[10]
local for_owner, for_client = 0, 0
for _, list in ipairs({queue, running}) do
  for _, other in ipairs(redis.call('ZRANGE', list, 0, -1)) do
    local fields = redis.call('HMGET', prefix .. other, 'owner', 'client')
    if fields[1] == owner then for_owner = for_owner + 1 end
    if client ~= '' and fields[2] == client then for_client = for_client + 1 end
  end
end
local queued = redis.call('ZCARD', queue)
if for_owner >= tonumber(ARGV[7]) or for_client >= tonumber(ARGV[8]) or queued >= tonumber(ARGV[9]) then
  return {0, for_owner, for_client, queued}
end
local order = string.format('%.6f', math.max(for_owner, for_client) * tonumber(ARGV[6]) + now)
redis.call('HSET', job, 'order', order)
redis.call('ZADD', queue, order, id)
redis.call('ZADD', session, now, id)
redis.call('EXPIRE', session, ARGV[5])
redis.call('RPUSH', demand, id)
return {1, for_owner, for_client, queued}
"""


def inputs_mapping(content: Image.Image, styles: list[Image.Image], start: Image.Image | None = None,
                   photo: bytes | None = None) -> dict:
    """A job's images as the ``:inputs`` hash holds them: ``content``, ``style:0`` …, ``start`` (PNG), ``photo``."""
    png = images.png_bytes
    return {"content": png(content), **{f"style:{i}": png(s) for i, s in enumerate(styles)},
            **({"start": png(start)} if start is not None else {}), **({"photo": photo} if photo else {})}


def read_inputs(r: redis.Redis, job_id: str) -> tuple[Image.Image | None, list[Image.Image], Image.Image | None]:
    """(content, styles in order, start image) from the job's ``:inputs`` hash; content None once gone."""
    inputs = job_key(job_id, ":inputs")
    fields = [f for f in r.hkeys(inputs) if f != b"photo"]  # the photo kept for prints: megabytes no run reads
    raw = {f: v for f, v in zip(fields, r.hmget(inputs, fields)) if v is not None} if fields else {}
    decode = lambda key: Image.open(io.BytesIO(raw[key])).convert("RGB") if key in raw else None  # noqa: E731
    style_keys = sorted((k for k in raw if k.startswith(b"style:")), key=lambda k: int(k.split(b":")[1]))
    return decode(b"content"), [decode(k) for k in style_keys], decode(b"start")


def expire_job(pipe, job_id: str, ttl: float) -> None:
    for suffix in JOB_SUFFIXES:
        if suffix != ":lease":
            pipe.expire(job_key(job_id, suffix), int(ttl))


# Lua: statuses are stored JSON-encoded, so "running" is the 9 characters "\"running\"".
FINISHED_JSON = [dumps(s) for s in FINISHED]

# Take a job to run: a message is a turn, not a name — the worker takes the queue's head (its fair order),
# the lease held by one worker only. With nothing queued, why the message's own job was not run: gone,
# finished, an older attempt ("stale"), or running elsewhere ("busy": a message redelivered by Redis).
# Every queued job has a message on its way, so taking the head never leaves a job without one.
CLAIM = """
local queue, running, prefix = KEYS[1], KEYS[2], KEYS[3]
local named, attempt, token, lease_ms, now = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4], ARGV[5]
local head = redis.call('ZRANGE', queue, 0, 0)[1]
if not head then
  local job = prefix .. named
  local status = redis.call('HGET', job, 'status')
  if not status then return {'gone'} end
  if status == ARGV[6] or status == ARGV[7] or status == ARGV[8] then return {'finished'} end
  if tonumber(redis.call('HGET', job, 'attempt') or '1') ~= attempt then return {'stale'} end
  return {'busy'}
end
local job = prefix .. head
if not redis.call('SET', job .. ':lease', token, 'NX', 'PX', lease_ms) then return {'busy'} end
redis.call('HSET', job, 'status', '"running"')
if not redis.call('HGET', job, 'started') then redis.call('HSET', job, 'started', now) end
redis.call('ZREM', queue, head)
redis.call('ZADD', running, now, head)
return {'ok', head, redis.call('HGET', job, 'attempt') or '1'}
"""

# Keep the lease while the job runs; 0 when it has been lost (another worker was given the job). A lease
# that expired meanwhile (Redis away longer than the limit, its keys' clocks running on) is taken again
# when the job is still running here and nobody else has it.
HEARTBEAT = """
local holder = redis.call('GET', KEYS[1])
if not holder and redis.call('HGET', KEYS[3], 'worker') == ARGV[5]
    and redis.call('HGET', KEYS[3], 'status') == '"running"' then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  holder = ARGV[1]
end
if holder ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
if redis.call('HGET', KEYS[3], 'status') ~= '"running"' then return 1 end  -- finished: left the running set
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
return 1
"""

# A worker is done with a job: its lease goes. The job leaves the running set only once it is no longer
# running: one still "running" here (a hand-back that failed, a lease lost to another worker) stays at
# its last heartbeat, for the watchdog to recover or its new worker to keep beating.
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
if redis.call('HGET', KEYS[3], 'status') ~= '"running"' then redis.call('ZREM', KEYS[2], ARGV[2]) end
return 1
"""

# A running job whose heartbeat is older than the limit: queue it again (next attempt), or fail it after
# MAX_ATTEMPTS. Returns the new attempt number, -1 when failed, 0 when nothing was done (someone else did it).
RECOVER = """
local job, running, queue, lease = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local id, cutoff, now, max_attempts = ARGV[1], tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
local beat = redis.call('ZSCORE', running, id)
if not beat or tonumber(beat) > cutoff then return 0 end
redis.call('ZREM', running, id)
if redis.call('EXISTS', lease) == 1 then return 0 end
if redis.call('HGET', job, 'status') ~= '"running"' then return 0 end
local attempt = tonumber(redis.call('HGET', job, 'attempt') or '1')
local handed = tonumber(redis.call('HGET', job, 'handovers') or '0')
if attempt - handed >= max_attempts then
  redis.call('HSET', job, 'status', '"failed"', 'finished', now, 'eta', '0', 'error', ARGV[5])
  redis.call('LREM', KEYS[5], 0, id)
  return -1
end
redis.call('HSET', job, 'status', '"queued"', 'attempt', tostring(attempt + 1), 'note', ARGV[6], 'handover', '0')
redis.call('ZADD', queue, redis.call('HGET', job, 'order') or redis.call('HGET', job, 'created'), id)
return attempt + 1
"""

LOST_TWICE = ("its worker was lost twice (killed, out of memory, or the machine gone), so it is not tried "
              "again; try a smaller size")
LOST_ONCE = "its worker was lost; it resumes on another worker from its last checkpoint"


def recover_lost(r: redis.Redis, worker_lost_s: float, send) -> list[tuple[str, int]]:
    """Queue again every running job whose heartbeat stopped ``worker_lost_s`` ago; fail those lost twice.
    Safe in every process at once."""
    now = time.time()
    script = r.register_script(RECOVER)
    done = []
    for raw in r.zrangebyscore(RUNNING_SET, "-inf", now - worker_lost_s):
        job_id = raw.decode()
        attempt = script(keys=[job_key(job_id), RUNNING_SET, QUEUE, job_key(job_id, ":lease"), DEMAND],
                         args=[job_id, now - worker_lost_s, dumps(now), MAX_ATTEMPTS, dumps(LOST_TWICE),
                               dumps(LOST_ONCE)])
        if attempt > 0:
            send(job_id, int(attempt))
        if attempt:
            done.append((job_id, int(attempt)))
    return done


# A job "running" in no list, with no lease (left so by a worker stopped mid-write, or by an older
# version): it joins the running set at heartbeat 0, so that recovery takes it up like any lost job.
ADOPT = """
if redis.call('HGET', KEYS[1], 'status') ~= '"running"' then return 0 end
if redis.call('ZSCORE', KEYS[2], ARGV[1]) or redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
redis.call('ZADD', KEYS[2], 0, ARGV[1])
return 1
"""


def adopt_orphans(r: redis.Redis) -> list[str]:
    """Every job "running" without a lease outside the running set, put in it for :func:`recover_lost`."""
    script, prefix, adopted = r.register_script(ADOPT), job_key(""), []
    for key in r.scan_iter(match=prefix + "*", count=1000):
        job_id = key.decode()[len(prefix):]
        if ":" not in job_id and script(keys=[key, RUNNING_SET, job_key(job_id, ":lease")], args=[job_id]):
            adopted.append(job_id)
    return adopted


# A worker that is stopping gives its running job back: queued again at once as its next attempt (the
# checkpoint written just before), its lease released; not a loss (``handovers`` is not counted by RECOVER).
# A lease that expired while Redis was away is still this worker's when nobody has taken the job since
# (as in HEARTBEAT).
HAND_BACK = """
local job, lease, running, queue = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local id, token, note = ARGV[1], ARGV[2], ARGV[3]
if redis.call('HGET', job, 'status') ~= '"running"' then return 0 end
local holder = redis.call('GET', lease)
if not holder and redis.call('HGET', job, 'worker') == ARGV[4] then holder = token end
if holder ~= token then return 0 end
local attempt = tonumber(redis.call('HGET', job, 'attempt') or '1') + 1
redis.call('HSET', job, 'status', '"queued"', 'attempt', tostring(attempt), 'handover', '1', 'note', note)
redis.call('HINCRBY', job, 'handovers', 1)
redis.call('DEL', lease)
redis.call('ZREM', running, id)
redis.call('ZADD', queue, redis.call('HGET', job, 'order') or redis.call('HGET', job, 'created'), id)
return attempt
"""

# One iteration's loss entry, appended once: a command retried after a lost reply (the worker's patient
# client retries the whole round trip) finds its iteration already last and adds nothing.
APPEND_LOSS = """
local last = redis.call('LINDEX', KEYS[1], -1)
if last and tonumber(cjson.decode(last)['iteration']) >= tonumber(ARGV[2]) then return 0 end
redis.call('RPUSH', KEYS[1], ARGV[1])
return 1
"""


def append_loss(pipe, job_id: str, entry: dict) -> None:
    """Queue on ``pipe`` (or run on a client) the append of one loss entry, idempotent by its iteration."""
    pipe.eval(APPEND_LOSS, 1, job_key(job_id, ":losses"), dumps(entry), int(entry["iteration"]))


# Merge live weight changes into a job's control record and bump its version, atomically.
UPDATE_CONTROL = """
local current = redis.call('HGET', KEYS[1], 'weights')
local weights = current and cjson.decode(current) or {}
for k, v in pairs(cjson.decode(ARGV[1])) do weights[k] = v end
redis.call('HSET', KEYS[1], 'weights', cjson.encode(weights))
return redis.call('HINCRBY', KEYS[1], 'version', 1)
"""

# Cancel: a queued job stops at once and drops its inputs; a running one is asked to stop.
CANCEL = """
local status = redis.call('HGET', KEYS[1], 'status')
if status == '"queued"' then
  redis.call('HSET', KEYS[1], 'status', '"stopped"', 'finished', ARGV[2], 'eta', '0')
  redis.call('ZREM', KEYS[3], ARGV[1])
  redis.call('DEL', KEYS[2])
  redis.call('LREM', KEYS[5], 0, ARGV[1])
  return 'stopped'
elseif status == '"running"' then
  redis.call('HSET', KEYS[4], 'stop', '1')
  return 'stopping'
end
return 'finished'
"""

# Replace a value only while it is still the one this caller wrote (the speed model a worker refines as it
# calibrates: a job's correction in between stays).
REPLACE_OWN = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2])
  return 1
end
return 0
"""


def replace_own(r: redis.Redis, key: str, written: str, value: str) -> bool:
    return bool(r.eval(REPLACE_OWN, 1, key, written, value))


def update_control(r: redis.Redis, job_id: str, weights: dict) -> int:
    """Hand checked live weights to a job (the task reads them at its next iteration); the new version."""
    return int(r.eval(UPDATE_CONTROL, 1, job_key(job_id, ":control"), dumps(plain(weights))))


def read_control(r: redis.Redis, job_id: str) -> tuple[int, dict, bool]:
    version, weights, stop = r.hmget(job_key(job_id, ":control"), "version", "weights", "stop")
    return int(version or 0), json.loads(weights) if weights else {}, stop == b"1"


def workers_alive(r: redis.Redis) -> list[dict]:
    """The workers whose presence key is fresh: {device, host, pid} each."""
    alive = []
    for key in r.scan_iter(match=WORKER_PREFIX + "*", count=1000):
        info = {k.decode(): v.decode() for k, v in r.hgetall(key).items()}
        if info:
            alive.append(info)
    return alive


def announce_worker(r: redis.Redis, host: str, pid: int, device: str, ttl: float) -> None:
    """This worker is alive (renewed every watchdog round; gone ``ttl`` seconds after its last renewal)."""
    key = f"{WORKER_PREFIX}{host}:{pid}"
    pipe = r.pipeline()
    pipe.hset(key, mapping={"device": device, "host": host, "pid": str(pid)})
    pipe.expire(key, max(1, int(ttl)))
    pipe.execute()
