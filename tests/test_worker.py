"""Worker processes as an operator runs them: one per device under a supervisor, a graceful stop that
hands the running job to another worker, and the container health check. Real redis-server, real
processes, real signals."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from browser import ROOT
from redis_harness import (FAST, JOB_S, READY_S, Cluster, Worker, cancel_unfinished, require_redis, wait_for,
                           worker_environment)
from styletransfer.jobs.redis_store import LOST_ONCE, connect, job_key, workers_alive
from styletransfer.limits import Limits
from styletransfer.settings import Settings
from styletransfer.worker import parse_devices

pytestmark = pytest.mark.redis


def test_devices_are_parsed_into_one_worker_each():
    assert parse_devices("all", 0) == ["cpu"] and parse_devices("all", 2) == ["cuda:0", "cuda:1"]
    assert parse_devices("cpu", 0) == ["cpu"] and parse_devices("cpu:3", 0) == ["cpu"] * 3
    assert parse_devices("cuda:0,cuda:2", 4) == ["cuda:0", "cuda:2"]
    for bad, message in (("cpu:0", "from 1 to 64"), ("gpu", "is not cuda:N"), ("cuda:3", "not on this machine"),
                         ("cuda:0,cuda:0", "each GPU once")):
        with pytest.raises(ValueError, match=message):
            parse_devices(bad, 2)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    require_redis()
    cluster = Cluster(tmp_path_factory.mktemp("workers"))
    yield cluster
    cluster.stop_workers()
    cluster.redis.stop()


@pytest.fixture
def jobs(cluster):
    from styletransfer.jobs.redis_backend import RedisJobs

    j = RedisJobs(cluster.redis.url, Limits(worker_lost_s=float(FAST["STUDIO_WORKER_LOST_S"])))
    yield j
    cancel_unfinished(j)
    j.shutdown()


def long_job(jobs, content_image, style_image, iterations=150):
    return jobs.submit("op", content_image, [style_image],
                       Settings(size=64, iterations=iterations, multiscale=False, seed=0))


def test_sigterm_hands_the_running_job_to_another_worker_and_the_worker_exits(cluster, jobs, content_image,
                                                                              style_image):
    cluster.start("a", "b")
    view = long_job(jobs, content_image, style_image)
    wait_for(lambda: jobs.get(view.id, "op").iteration >= 5, message="the job running")
    holder = wait_for(lambda: cluster.worker_of(jobs, view.id), message="its worker")
    reached = jobs.get(view.id, "op").iteration
    stopped_at = time.time()
    holder.proc.send_signal(signal.SIGTERM)
    holder.proc.wait(10)  # the stopped worker exits within 10 s
    exited = time.time() - stopped_at
    moved = wait_for(lambda: (v := jobs.get(view.id, "op")).attempt == 2 and v.iteration > reached and v,
                     timeout=60, message="another worker moving the job on")
    print(f"\n[measured] SIGTERM -> worker exited {exited:.1f} s; -> job moving on elsewhere "
          f"{time.time() - stopped_at:.1f} s")
    assert "its worker was stopped" in moved.note or "moved to another worker" in moved.note
    assert cluster.worker_of(jobs, view.id) is not holder
    done = jobs.wait(view.id, "op", timeout=JOB_S)
    assert done.status == "done" and done.iteration == 150
    iterations = [h["iteration"] for h in jobs.loss_history(view.id, "op")]
    assert iterations == list(range(1, len(iterations) + 1))  # resumed where it was: nothing twice, no gap
    # a hand-back is not a lost worker: the job keeps its retry (it would fail on its second loss)
    assert int(jobs.store.r.hget(job_key(view.id), "handovers")) == 1
    cluster.workers.pop(holder.name).stop()


def test_the_supervisor_runs_a_worker_per_device_and_starts_a_dead_one_again(cluster, jobs, tmp_path, content_image,
                                                                             style_image):
    cluster.stop_workers()
    env = worker_environment(tmp_path)
    log = open(tmp_path / "supervisor.log", "w")
    supervisor = subprocess.Popen([sys.executable, "-m", "styletransfer.worker", "--devices", "cpu:2", "--redis",
                                   cluster.redis.url], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    r = connect(cluster.redis.url)
    try:
        first = wait_for(lambda: (w := workers_alive(r)) and len(w) == 2 and w, timeout=READY_S, message="two workers")
        assert sorted(w["device"] for w in first) == ["cpu", "cpu"]
        assert len({w["pid"] for w in first}) == 2
        view = long_job(jobs, content_image, style_image, iterations=100)
        wait_for(lambda: jobs.get(view.id, "op").iteration >= 3, message="the job running")
        pid = int(jobs.store.r.hget(job_key(view.id), "worker").decode().strip('"').split(":")[1])
        os.kill(pid, signal.SIGKILL)  # a child dies mid-job
        wait_for(lambda: str(pid) not in {w["pid"] for w in workers_alive(r)} and len(workers_alive(r)) == 2,
                 timeout=120, message="the dead child started again")
        # the claim makes it "running" as attempt 2 a moment before the new worker has read its checkpoint
        # and written where it resumed: until then the note still says that it will resume
        resumed = wait_for(lambda: (v := jobs.get(view.id, "op")).attempt == 2 and v.status in ("running", "done")
                           and v.note != LOST_ONCE and v, timeout=60, message="its job resumed")
        assert "resumed at iteration" in resumed.note or "started again" in resumed.note
        done = jobs.wait(view.id, "op", timeout=JOB_S)
        assert done.status == "done" and done.iteration == 100  # its job finishes
        assert "exited" in (tmp_path / "supervisor.log").read_text()
    finally:
        supervisor.send_signal(signal.SIGTERM)  # stops its children, each handing back what it holds
        try:
            supervisor.wait(60)
        finally:
            if supervisor.poll() is None:
                os.killpg(supervisor.pid, signal.SIGKILL)
            log.close()
    assert wait_for(lambda: not workers_alive(r), timeout=30, message="the children gone")


def test_the_health_check_says_whether_a_worker_of_this_host_is_alive(cluster, tmp_path):
    def check():
        return subprocess.run([sys.executable, "-m", "styletransfer.worker", "--check", "--redis", cluster.redis.url],
                              cwd=ROOT, capture_output=True, text=True, timeout=60)

    cluster.stop_workers()
    wait_for(lambda: not workers_alive(connect(cluster.redis.url)), timeout=30, message="no worker")
    none = check()
    assert none.returncode == 1 and "no worker on" in none.stderr
    cluster.start("a")
    alive = check()
    assert alive.returncode == 0 and "1 worker(s)" in alive.stdout and "cpu" in alive.stdout
    away = subprocess.run([sys.executable, "-m", "styletransfer.worker", "--check", "--redis", "redis://127.0.0.1:9/0"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert away.returncode == 1 and "does not answer" in away.stderr


def test_the_first_worker_s_calibration_gives_way_to_a_waiting_job(tmp_path, content_image, style_image):
    """On a fresh Redis the first worker measures the pool's speed before it reports ready, up to
    STUDIO_MAX_SIZE (256 and 512 px, then 128 and 1024, then 256 and 512 again); a job that waits meanwhile
    ends it after the current step: the model keeps the sizes measured, and the job runs."""
    from styletransfer.jobs.redis_backend import RedisJobs
    from styletransfer.jobs.redis_store import SPEED_KEY
    from styletransfer.jobs.speed import SpeedMeter

    cluster = Cluster(tmp_path)
    worker = Worker(cluster.redis.url, tmp_path, "first", ready=False, STUDIO_MAX_SIZE=1024)  # ready after it
    jobs = RedisJobs(cluster.redis.url, Limits(worker_lost_s=float(FAST["STUDIO_WORKER_LOST_S"])))
    try:
        model = lambda: SpeedMeter.from_json(jobs.store.r.get(SPEED_KEY)).points  # noqa: E731
        wait_for(lambda: len(model()) == 3, timeout=READY_S, message="256, 512 and 128 px measured: 1024 px under way")
        view = jobs.submit("op", content_image, [style_image], Settings(size=64, iterations=5, multiscale=False, seed=0))
        assert jobs.wait(view.id, "op", timeout=JOB_S).status == "done"
        assert len(model()) == 3  # the 1024-px step was given up for the job (which then corrected the model)
    finally:
        worker.stop()
        jobs.shutdown()
        cluster.redis.stop()


def test_sigterm_during_calibration_ends_it_and_the_worker_exits_within_seconds(tmp_path):
    """A worker stopped (a deploy, a scale-down) while it still measures the pool's speed gives the
    measurement up at its next iteration: it exits well inside Kubernetes' 60-s grace period."""
    from styletransfer.jobs.redis_store import SPEED_KEY
    from styletransfer.jobs.speed import SpeedMeter

    cluster = Cluster(tmp_path)
    worker = Worker(cluster.redis.url, tmp_path, "first", ready=False, STUDIO_MAX_SIZE=1024)
    r = connect(cluster.redis.url)
    try:
        model = lambda: SpeedMeter.from_json(r.get(SPEED_KEY)).points  # noqa: E731
        wait_for(lambda: len(model()) == 3, timeout=READY_S, message="up to 512 px measured: 1024 px under way")
        stopped_at = time.time()
        worker.proc.send_signal(signal.SIGTERM)
        worker.proc.wait(15)
        print(f"\n[measured] SIGTERM during calibration -> exited in {time.time() - stopped_at:.1f} s")
        assert len(model()) == 3  # the 1024-px step was given up
    finally:
        worker.stop()
        cluster.redis.stop()


def test_a_worker_stopped_while_redis_is_away_exits_in_its_grace_and_its_job_finishes_when_redis_returns(
        cluster, jobs, content_image, style_image):
    """Redis goes away, then the worker running a job is told to stop: it waits for Redis no longer than
    STUDIO_WORKER_STOP_S, exits, and once Redis is back (after the job's lease has long expired) the job is
    recovered from its checkpoint and finishes on another worker, its loss history without gaps."""
    cluster.start("a", "b")
    view = long_job(jobs, content_image, style_image, iterations=300)
    wait_for(lambda: jobs.store.r.exists(job_key(view.id, ":checkpoint")) and jobs.get(view.id, "op").iteration >= 10,
             message="the job running past a checkpoint")
    holder = wait_for(lambda: cluster.worker_of(jobs, view.id), message="its worker")
    cluster.redis.down()
    try:
        holder.proc.send_signal(signal.SIGTERM)
        stopped_at = time.time()
        try:
            holder.proc.wait(30)  # STUDIO_WORKER_STOP_S=3 here; Kubernetes gives 60
        except subprocess.TimeoutExpired:
            pytest.fail(f"the worker did not exit within 30 s of SIGTERM; its log ends:\n{holder.output()[-4000:]}")
        print(f"\n[measured] SIGTERM with Redis away -> worker exited in {time.time() - stopped_at:.1f} s")
        time.sleep(max(0.0, float(FAST["STUDIO_WORKER_LOST_S"]) + 1 - (time.time() - stopped_at)))  # lease expired
    finally:
        cluster.redis.start()
    done = jobs.wait(view.id, "op", timeout=JOB_S)
    assert done.status == "done" and done.iteration == 300, done
    iterations = [h["iteration"] for h in jobs.loss_history(view.id, "op")]
    assert iterations == list(range(1, 301))
    cluster.workers.pop(holder.name).stop()


def test_a_job_running_in_no_list_with_no_worker_is_recovered(cluster, jobs, content_image, style_image):
    """The state a lost hand-back used to leave: "running" at its last iteration, in neither queue nor the
    running set, no lease. The watchdog finds it by its status and runs it again."""
    from styletransfer.jobs.redis_store import QUEUE

    cluster.stop_workers()
    view = long_job(jobs, content_image, style_image, iterations=20)
    jobs.store.r.zrem(QUEUE, view.id)
    jobs.store.r.hset(job_key(view.id), "status", '"running"')
    cluster.start("a")
    done = jobs.wait(view.id, "op", timeout=JOB_S)
    assert done.status == "done" and done.iteration == 20 and done.attempt == 2, done
