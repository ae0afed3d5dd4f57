"""The Redis + Celery backend with the real parts: redis-server, worker processes, SIGKILL."""
from __future__ import annotations

import io
import json
import time

import pytest
from PIL import Image

from media import video_frames
from redis_harness import FAST, JOB_S, cancel_unfinished, running_cluster, wait_for
from styletransfer.images import read_png_settings
from styletransfer.jobs import JobNotFound, LimitExceeded
from styletransfer.jobs.redis_store import SPEED_KEY, job_key, replace_own
from styletransfer.jobs.speed import SpeedMeter
from styletransfer.limits import Limits
from styletransfer.settings import Settings

pytestmark = pytest.mark.redis


def small(**kw):
    base = dict(size=64, iterations=20, multiscale=False, seed=0)
    base.update(kw)
    return Settings(**base)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    yield from running_cluster(tmp_path_factory)


@pytest.fixture
def jobs(cluster):
    from styletransfer.jobs.redis_backend import RedisJobs

    limits = Limits(worker_lost_s=float(FAST["STUDIO_WORKER_LOST_S"]), max_queued_per_session=3,
                    max_jobs_kept_per_session=10)
    j = RedisJobs(cluster.redis.url, limits)
    yield j
    cancel_unfinished(j)
    j.shutdown()


def test_the_first_worker_measures_the_pool_s_speed_before_it_reports_ready(cluster, jobs):
    cluster.start("a", "b")
    meter = SpeedMeter.from_json(jobs.store.r.get(SPEED_KEY))
    # calibrated at 128, 256 and 512 px: the workers here run under STUDIO_MAX_SIZE=512 (the harness)
    assert len(meter.points) == 3 and 0 < meter.points[0][1] < meter.points[1][1] < meter.points[2][1]
    assert 0 < jobs.estimate(Settings(size=256, iterations=25)) < jobs.estimate(Settings(size=512, iterations=25))


def test_a_worker_refines_the_model_only_while_it_is_still_its_own(jobs):
    key = "st:test-own"
    jobs.store.r.set(key, "256 and 512 px")
    assert replace_own(jobs.store.r, key, "256 and 512 px", "and 1024 px")
    jobs.store.r.set(key, "corrected by a job")
    assert not replace_own(jobs.store.r, key, "and 1024 px", "refined again") and jobs.store.r.get(key) == b"corrected by a job"
    jobs.store.r.delete(key)


def test_a_job_runs_on_a_worker_live_steered_and_downloadable(cluster, jobs, content_image, style_image):
    cluster.start("a", "b")
    view = jobs.submit("alice", content_image, [style_image], small(iterations=300))
    # an idle worker may claim it before submit reads it back: either is a true answer
    assert view.status in ("queued", "running") and view.settings["size"] == 64
    wait_for(lambda: jobs.get(view.id, "alice").iteration >= 3, message="iterations")
    jobs.update(view.id, "alice", style_weight=77.0)
    event = wait_for(lambda: jobs.get(view.id, "alice").events, message="the change applied")[0]
    assert event["weights"]["style_weight"] == 77
    assert jobs.frame(view.id, "alice")[1][:2] == b"\xff\xd8"
    jobs.cancel(view.id, "alice")
    done = jobs.wait(view.id, "alice", timeout=JOB_S)
    assert done.status == "stopped" and done.iteration < 300
    png = jobs.result_png(view.id, "alice")
    record = read_png_settings(png)
    assert record["schedule"][0]["iteration"] == event["iteration"] and record["stop_after"] == done.iteration
    assert record["style_weight"] == 10.0 and isinstance(record["seed"], int)
    history = jobs.loss_history(view.id, "alice")
    assert [h["iteration"] for h in history] == list(range(1, done.iteration + 1))
    assert jobs.loss_history(view.id, "alice", since=done.iteration - 2)[0]["iteration"] == done.iteration - 1
    assert video_frames(jobs.timelapse(view.id, "alice")) >= 2
    assert Image.open(io.BytesIO(jobs.timelapse(view.id, "alice", "gif"))).n_frames >= 2
    assert jobs.store.r.exists(job_key(view.id, ":checkpoint")) == 0  # its checkpoint goes when the job ends
    assert jobs.store.r.ttl(job_key(view.id, ":inputs")) > 0          # its images stay until it expires: Run again


def test_run_again_and_continue_on_the_workers(cluster, jobs, content_image, style_image):
    cluster.start("a", "b")
    first = jobs.submit("gina", content_image, [style_image], small(iterations=4, init="noise"))
    jobs.wait(first.id, "gina", timeout=JOB_S)
    again, more = jobs.rerun(first.id, "gina"), jobs.rerun(first.id, "gina", continue_iterations=5)
    assert jobs.wait(again.id, "gina", timeout=JOB_S).status == "done"
    assert jobs.wait(more.id, "gina", timeout=JOB_S).iteration == 5
    pixels = lambda job: Image.open(io.BytesIO(jobs.result_png(job.id, "gina"))).convert("RGB").tobytes()  # noqa
    assert pixels(again) == pixels(first) != pixels(more)
    # the photo larger than the result (80x96 for a 64-px job) is kept for prints, and passed on by Run again
    assert Image.open(io.BytesIO(jobs.store.photo(first.id))).size == (80, 96)
    assert jobs.store.photo(again.id) == jobs.store.photo(first.id)
    assert "continues job" in jobs.get(more.id, "gina").note


def test_two_sessions_run_at_once_on_two_workers(cluster, jobs, content_image, style_image):
    cluster.start("a", "b")
    a = jobs.submit("alice", content_image, [style_image], small(iterations=2000))
    b = jobs.submit("bob", content_image, [style_image], small(iterations=2000))
    wait_for(lambda: jobs.get(a.id, "alice").iteration > 0 and jobs.get(b.id, "bob").iteration > 0,
             message="both running")
    assert cluster.worker_of(jobs, a.id) is not cluster.worker_of(jobs, b.id)
    for job, owner in ((a, "alice"), (b, "bob")):
        jobs.cancel(job.id, owner)
        assert jobs.wait(job.id, owner, timeout=JOB_S).status == "stopped"


def test_a_queued_job_cancelled_never_runs_and_drops_its_inputs(cluster, jobs, content_image, style_image):
    cluster.start("a", "b")
    running = [jobs.submit(f"s{i}", content_image, [style_image], small(iterations=2000)) for i in range(2)]
    wait_for(lambda: all(jobs.get(j.id, f"s{i}").status == "running" for i, j in enumerate(running)),
             message="both workers busy")
    queued = jobs.submit("carol", content_image, [style_image], small())
    assert jobs.get(queued.id, "carol").queue_position == 1
    assert jobs.store.r.exists(job_key(queued.id, ":inputs")) == 1
    assert jobs.cancel(queued.id, "carol").status == "stopped"
    assert jobs.store.r.exists(job_key(queued.id, ":inputs")) == 0
    for i, j in enumerate(running):
        jobs.cancel(j.id, f"s{i}")
        jobs.wait(j.id, f"s{i}", timeout=JOB_S)
    time.sleep(1.0)  # its message reaches a worker, which drops it
    assert jobs.get(queued.id, "carol").status == "stopped" and jobs.get(queued.id, "carol").iteration == 0


def test_a_killed_worker_s_job_finishes_elsewhere_from_its_checkpoint(cluster, jobs, content_image, style_image):
    cluster.start("a", "b")
    view = jobs.submit("alice", content_image, [style_image], small(size=96, iterations=400))
    wait_for(lambda: jobs.get(view.id, "alice").iteration >= 40, message="running past a checkpoint")
    victim = cluster.worker_of(jobs, view.id)
    killed_at = jobs.get(view.id, "alice").iteration
    victim.kill()
    done = jobs.wait(view.id, "alice", timeout=JOB_S)
    assert done.status == "done" and done.iteration == 400, done
    assert done.attempt == 2 and "resumed at iteration" in done.note
    resumed_at = int(done.note.split("resumed at iteration ")[1].split()[0])
    assert 0 < resumed_at <= killed_at
    assert [h["iteration"] for h in jobs.loss_history(view.id, "alice")] == list(range(1, 401))
    assert cluster.worker_of(jobs, view.id) is not victim
    cluster.start("a", "b")


def test_a_job_whose_worker_dies_twice_fails_saying_so(cluster, jobs, content_image, style_image):
    cluster.start("a", "b")
    view = jobs.submit("alice", content_image, [style_image], small(size=96, iterations=2000))
    for attempt in (1, 2):
        # running, and on a live worker: the new attempt has written which worker it is on
        runner = wait_for(lambda: jobs.get(view.id, "alice").attempt == attempt
                          and jobs.get(view.id, "alice").iteration > 0 and cluster.worker_of(jobs, view.id),
                          timeout=90, message=f"attempt {attempt} running")
        runner.kill()
        if attempt == 1:
            cluster.start("a", "b")
    failed = jobs.wait(view.id, "alice", timeout=JOB_S)
    assert failed.status == "failed" and "worker was lost twice" in failed.error
    cluster.start("a", "b")


def test_a_redelivered_or_stale_message_never_runs_a_job_twice(cluster, jobs, content_image, style_image):
    cluster.start("a", "b")
    view = jobs.submit("alice", content_image, [style_image], small(iterations=600))
    wait_for(lambda: jobs.get(view.id, "alice").iteration > 5, message="running")
    jobs.executor.send(view.id, 1)   # what Redis's visibility timeout does to a long task's message
    jobs.executor.send(view.id, 0)   # a message from an older attempt
    other = [w for w in cluster.workers.values() if w is not cluster.worker_of(jobs, view.id)][0]
    wait_for(lambda: "not run: busy" in other.output() and "not run: stale" in other.output(), timeout=30,
             message="both messages dropped by the idle worker")
    jobs.cancel(view.id, "alice")
    done = jobs.wait(view.id, "alice", timeout=JOB_S)
    its = [h["iteration"] for h in jobs.loss_history(view.id, "alice")]
    assert its == list(range(1, done.iteration + 1))  # one runner, no iteration twice


def test_queued_jobs_survive_a_redis_restart(cluster, jobs, content_image, style_image):
    cluster.stop_workers()
    queued = [jobs.submit("dave", content_image, [style_image], small()) for _ in range(2)]
    cluster.redis.restart()
    assert [jobs.get(j.id, "dave").status for j in queued] == ["queued", "queued"]
    cluster.start("a", "b")
    for j in queued:
        assert jobs.wait(j.id, "dave", timeout=JOB_S).status == "done"
        assert jobs.result_png(j.id, "dave")[:4] == b"\x89PNG"


def test_another_session_sees_nothing(cluster, jobs, content_image, style_image):
    view = jobs.submit("alice", content_image, [style_image], small())
    jobs.wait(view.id, "alice", timeout=JOB_S)
    assert jobs.get(view.id, "mallory") is None
    for call in (jobs.cancel, jobs.frame, jobs.result_png, jobs.timelapse, jobs.loss_history):
        with pytest.raises(JobNotFound):
            call(view.id, "mallory")
    with pytest.raises(JobNotFound):
        jobs.update(view.id, "mallory", style_weight=1.0)
    assert view.id not in [j.id for j in jobs.list("mallory")]


def test_limits_hold_whatever_a_request_claims(cluster, jobs, content_image, style_image):
    with pytest.raises(LimitExceeded, match="megapixel-iterations"):
        jobs.submit("erin", content_image, [style_image],
                    small(size=1024, iterations=2000, multiscale=True, draft_backbone="none"))
    with pytest.raises(ValueError, match="too narrow"):
        jobs.submit("erin", Image.new("RGB", (4000, 60)), [style_image], small(size=512))


def test_two_hundred_cancelled_jobs_leave_redis_memory_bounded(cluster, jobs, content_image, style_image):
    cluster.stop_workers()
    big = content_image.resize((480, 576))
    used = lambda: jobs.store.r.info("memory")["used_memory"]  # noqa: E731
    before = used()
    for i in range(200):
        view = jobs.submit("frank", big, [style_image], small(size=512, iterations=5))
        jobs.cancel(view.id, "frank")
    grown = used() - before
    assert len(jobs.list("frank")) <= 10           # finished jobs kept per session
    assert jobs.store.r.zcard("st:queue") == 0
    assert grown < 2_000_000, grown               # 200 × a 512-px PNG would be ~40 MB
    cluster.start("a", "b")


def test_the_web_side_joins_its_watchdog_when_it_shuts_down(cluster):
    import threading

    from styletransfer.jobs.redis_backend import RedisJobs

    before = threading.active_count()
    for _ in range(3):
        j = RedisJobs(cluster.redis.url, Limits(worker_lost_s=1.0))
        assert threading.active_count() == before + 1  # its watchdog
        j.shutdown()
        assert threading.active_count() == before


def test_a_retried_round_trip_leaves_each_iteration_s_loss_once(jobs):
    """The worker's client retries a whole round trip when its reply is lost: the iteration's loss entry
    is appended once, so the chart and the resumed history have no doubles."""
    from types import SimpleNamespace

    from styletransfer.jobs.progress import FrameHistory, Update
    from styletransfer.jobs.redis_store import Outage
    from styletransfer.jobs.runner import _RedisSink

    runner = SimpleNamespace(r=jobs.store.r, limits=jobs.limits, outage=Outage())
    sink = _RedisSink(runner, "retried", heartbeat=None, history=FrameHistory(4), events=[], frame_seq=0)
    for iteration in (1, 2, 2, 3, 3, 3):
        sink.apply(Update(fields={"iteration": iteration}, loss_entry={"iteration": iteration, "style": 1.0 / iteration}))
    stored = [json.loads(e)["iteration"] for e in jobs.store.r.lrange(job_key("retried", ":losses"), 0, -1)]
    assert stored == [1, 2, 3]
    jobs.store.r.delete(*(job_key("retried", s) for s in ("", ":losses")))


SUBMIT_AT = """
import sys, threading, time
from styletransfer.examples import example_image
from styletransfer.jobs import LimitExceeded
from styletransfer.jobs.redis_backend import RedisJobs
from styletransfer.limits import Limits
from styletransfer.settings import Settings

url, owner, n, at = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
jobs = RedisJobs(url, Limits(max_queued_per_session=3), watchdog=False)
photo, painting = example_image("hopper"), example_image("swirls")
accepted = []
def submit():
    time.sleep(max(0.0, at - time.time()))
    try:
        accepted.append(jobs.submit(owner, photo, [painting], Settings(size=64, iterations=20, multiscale=False)))
    except LimitExceeded:
        pass
threads = [threading.Thread(target=submit) for _ in range(n)]
[t.start() for t in threads]
[t.join() for t in threads]
print(len(accepted))
"""


@pytest.mark.parametrize("processes", [1, 2])
def test_concurrent_submits_from_one_session_accept_exactly_its_cap(cluster, jobs, processes):
    """Eight submits from one session at the same instant — from one web process's threads, or from two
    web processes — take exactly the session's cap of three: the caps are counted and taken in one step."""
    import subprocess
    import sys

    from browser import ROOT

    cluster.stop_workers()  # nothing finishes meanwhile and frees a place
    owner, at = f"racer{processes}", time.time() + 8  # both processes have imported torch by then
    procs = [subprocess.Popen([sys.executable, "-c", SUBMIT_AT, cluster.redis.url, owner, str(8 // processes),
                               str(at)], cwd=ROOT, stdout=subprocess.PIPE, text=True) for _ in range(processes)]
    accepted = sum(int(p.communicate(timeout=120)[0].split()[-1]) for p in procs)
    assert accepted == 3 and [v.status for v in jobs.list(owner)] == ["queued"] * 3
    cluster.start("a", "b")
