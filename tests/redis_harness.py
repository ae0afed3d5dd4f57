"""Real redis-server and real Celery worker processes for the Redis backend's tests."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from browser import ROOT, free_port

# Short enough for tests to see recovery within seconds; the defaults are 60 s and 5 s.
FAST = {"STUDIO_WORKER_LOST_S": "3", "STUDIO_CHECKPOINT_S": "0.5", "STUDIO_FRAME_INTERVAL_S": "0.1",
        "STUDIO_WORKER_STOP_S": "3"}
# Deadlines for failures, not timing checks, with room for a slow, shared CPU: the first worker of a fresh
# Redis calibrates at 128, 256 and 512 px before it is ready (20 s on a 2.8-GHz Xeon, over 60 s on a busy 2-GHz
# AVX2 EPYC); a test's job (up to 400 iterations at 96 px) takes about a minute on that idle Xeon, and
# 40 of its iterations ran 5.5 times slower there beside three busy loops.
READY_S = 300
JOB_S = 600


def wait_for(predicate, timeout=120, interval=0.05, message="condition"):
    """``predicate()``'s first true value, polled until ``timeout``; exceptions are failures, not retries."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {message}")


def cancel_unfinished(jobs) -> None:
    """Stop every job still queued or running, whoever's: a test that failed mid-job leaves no worker busy
    with it for the next test."""
    from styletransfer.jobs.redis_store import session_key

    prefix = session_key("")
    for key in jobs.store.r.scan_iter(match=prefix + "*"):
        owner = key.decode()[len(prefix):]
        for view in jobs.list(owner):
            if not view.is_finished:
                jobs.cancel(view.id, owner)


def require_redis():
    """Skip without redis-server, except under CI=true, where that is a failure."""
    if shutil.which("redis-server") is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is not installed (apt-get install redis-server)")
        pytest.skip("redis-server is not installed")


class RedisServer:
    """redis-server on a free port in a temporary directory, with its append-only file on."""

    def __init__(self, tmp_path):
        self.dir = tmp_path / "redis"
        self.dir.mkdir(exist_ok=True)
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.start()

    def start(self):
        self.log = open(self.dir / "redis.log", "a")
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir),
             "--appendonly", "yes", "--save", "", "--protected-mode", "no"], stdout=self.log, stderr=subprocess.STDOUT)
        import redis

        client = redis.Redis(port=self.port)
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def restart(self):
        """SIGTERM (Redis flushes its append-only file), then start again on the same port and folder."""
        self.down()
        self.start()

    def down(self):
        """SIGTERM, as an operator's restart or a crash-free outage; :meth:`start` brings it back."""
        self.proc.terminate()
        self.proc.wait(20)
        self.log.close()

    def stop(self):
        self.proc.kill()
        self.proc.wait(10)
        self.log.close()


def worker_environment(tmp_path, **env) -> dict:
    """A test worker's: fast leases and checkpoints; and the first worker calibrates up to STUDIO_MAX_SIZE
    before it is ready, so 128, 256 and 512 px, not 1024, keep its start short."""
    environment = dict(os.environ, PYTHONUNBUFFERED="1", TORCH_HOME=str(tmp_path / "torch-home"), **FAST)
    environment.setdefault("STUDIO_MAX_SIZE", "512")
    environment.update({k: str(v) for k, v in env.items()})
    return environment


class Worker:
    """``python -m styletransfer.worker --device cpu``, in its own process group; returned once it is ready,
    unless ``ready=False``."""

    def __init__(self, redis_url: str, tmp_path, name: str, ready: bool = True, **env):
        self.name = name
        environment = worker_environment(tmp_path, **env)
        self.log_path = tmp_path / f"worker-{name}.log"
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "styletransfer.worker", "--device", "cpu", "--redis", redis_url,
             "--name", f"{name}@%h"], cwd=ROOT, env=environment, stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True)
        if not ready:
            return
        deadline = time.time() + READY_S
        while time.time() < deadline:
            if "ready." in self.output():
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker {name} exited: {self.output()}")
            time.sleep(0.1)
        output = self.output()
        self.stop()  # not left behind to take a later test's jobs
        raise RuntimeError(f"worker {name} did not start within {READY_S} s: {output}")

    def output(self) -> str:
        self.log.flush()
        return self.log_path.read_text()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self):
        """SIGKILL to the worker's whole process group: the job dies mid-iteration, nothing is cleaned up."""
        if self.alive():
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self):
        self.kill()
        self.log.close()


class Cluster:
    """A redis-server and named worker processes that tests stop, kill and start again."""

    def __init__(self, tmp_path):
        self.tmp_path = tmp_path
        self.redis = RedisServer(tmp_path)
        self.workers: dict[str, Worker] = {}

    def start(self, *names):
        for name in names:
            if name not in self.workers or not self.workers[name].alive():
                self.workers[name] = Worker(self.redis.url, self.tmp_path, name)

    def stop_workers(self):
        for w in self.workers.values():
            w.stop()
        self.workers.clear()

    def worker_of(self, jobs, job_id) -> Worker | None:
        """The live worker process running (or that ran) the job; None if that process is gone."""
        from styletransfer.jobs.redis_store import job_key

        raw = jobs.store.r.hget(job_key(job_id), "worker")
        if raw is None:
            return None
        pid = int(json.loads(raw).split(":")[1])
        return next((w for w in self.workers.values() if w.proc.pid == pid and w.alive()), None)


def running_cluster(tmp_path_factory):
    """For a module fixture: a redis-server and workers "a" and "b", stopped after the module."""
    require_redis()
    cluster = Cluster(tmp_path_factory.mktemp("cluster"))
    cluster.start("a", "b")
    yield cluster
    cluster.stop_workers()
    cluster.redis.stop()
