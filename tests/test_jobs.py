"""The job manager with the real engine: queue order, cancel, live updates, failures, frames, ownership."""
import io
import time
import urllib.error

import pytest
import torch
from PIL import Image

from styletransfer import backbones
from styletransfer.engine import Settings
from styletransfer.images import GIF_MAX_FRAMES
from styletransfer.jobs import FrameHistory, JobNotFound, LimitExceeded, LocalJobs, OverCapacity
from styletransfer.limits import Limits

from media import video_frames


def quick(**kw):
    base = dict(size=48, iterations=3, multiscale=False, seed=0)
    base.update(kw)
    return Settings(**base)


@pytest.fixture
def manager():
    m = LocalJobs(devices=["cpu"], limits=Limits(max_queued_per_session=5, frame_interval=0.0), nice=0)
    yield m
    m.shutdown()


def wait_for(predicate, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    raise AssertionError("timed out")


def test_the_queue_serves_sessions_round_robin_with_queue_positions(manager, content_image, style_image):
    long = manager.submit("alice", content_image, [style_image], quick(iterations=400))
    wait_for(lambda: manager.get(long.id, "alice").status == "running")
    b1 = manager.submit("alice", content_image, [style_image], quick())
    b2 = manager.submit("alice", content_image, [style_image], quick())
    c = manager.submit("bob", content_image, [style_image], quick())      # bob's first: before alice's second
    d = manager.submit("dave", content_image, [style_image], quick())     # first too: after bob's, by arrival
    positions = {v.id: manager.get(v.id, owner).queue_position
                 for v, owner in ((b1, "alice"), (b2, "alice"), (c, "bob"), (d, "dave"))}
    assert positions == {c.id: 1, d.id: 2, b1.id: 3, b2.id: 4}
    manager.cancel(long.id, "alice")
    done = {owner: manager.wait(v.id, owner) for v, owner in ((c, "bob"), (d, "dave"))}
    done_b = [manager.wait(v.id, "alice") for v in (b1, b2)]
    assert all(v.status == "done" for v in [*done.values(), *done_b])
    assert done["bob"].started <= done["dave"].started <= done_b[0].started <= done_b[1].started
    assert manager.get(long.id, "alice").status == "stopped"


def test_one_client_address_is_one_share_whatever_its_sessions(content_image, style_image):
    """Cookieless requests are a new session each: the client's address is what the cap and the round
    count, so 25 submits from one address take at most its cap, and another address goes first."""
    m = LocalJobs(devices=["cpu"], limits=Limits(max_queued_per_client=3, frame_interval=0.0), preload=None, nice=0)
    try:
        accepted, refused = [], []
        for i in range(25):
            try:
                accepted.append(m.submit(f"anon-{i}", content_image, [style_image], quick(iterations=2000),
                                         client="203.0.113.7"))
            except LimitExceeded as exc:
                refused.append(str(exc))
        assert len(accepted) == 3 and len(refused) == 22
        assert "your address already has 3 jobs queued or running (the limit is 3)" in refused[0]
        wait_for(lambda: m.get(accepted[0].id, "anon-0").status == "running")
        other = m.submit("honest", content_image, [style_image], quick(), client="198.51.100.2")
        assert m.get(other.id, "honest").queue_position == 1  # before the first client's later two
        m.cancel(accepted[0].id, "anon-0")                    # the worker is free: it takes the queue's head
        done = m.wait(other.id, "honest")
        later = [m.get(v.id, f"anon-{i}") for i, v in enumerate(accepted[1:], 1)]
        assert done.status == "done" and all(v.started is None or v.started >= done.started for v in later)
    finally:
        m.shutdown()


def test_cancel_while_queued_never_starts(manager, content_image, style_image):
    first = manager.submit("alice", content_image, [style_image], quick(iterations=400))
    queued = manager.submit("alice", content_image, [style_image], quick())
    view = manager.cancel(queued.id, "alice")
    assert view.status == "stopped" and view.started is None
    manager.cancel(first.id, "alice")
    manager.wait(first.id, "alice")
    time.sleep(0.2)
    assert manager.get(queued.id, "alice").iteration == 0


def test_cancel_while_running_keeps_the_current_image(manager, content_image, style_image):
    job = manager.submit("alice", content_image, [style_image], quick(iterations=400))
    wait_for(lambda: manager.get(job.id, "alice").iteration >= 2)
    manager.cancel(job.id, "alice")
    view = manager.wait(job.id, "alice")
    assert view.status == "stopped" and 2 <= view.iteration < 400
    png = manager.result_png(job.id, "alice")
    assert Image.open(io.BytesIO(png)).size == (40, 48)


def test_live_update_is_applied_at_the_next_iteration(manager, content_image, style_image):
    job = manager.submit("alice", content_image, [style_image], quick(iterations=400))
    wait_for(lambda: manager.get(job.id, "alice").iteration >= 2)
    at_update = manager.get(job.id, "alice").iteration
    view = manager.update(job.id, "alice", style_weight=77.0)
    assert view.weights["style_weight"] == 77.0
    assert view.settings["style_weight"] == 10.0  # the record keeps the start; the change is an event
    wait_for(lambda: manager.get(job.id, "alice").events)
    event = manager.get(job.id, "alice").events[0]
    assert event["weights"]["style_weight"] == 77.0
    assert at_update < event["iteration"] <= at_update + 2
    manager.cancel(job.id, "alice")
    manager.wait(job.id, "alice")
    with pytest.raises(ValueError, match="no longer change"):
        manager.update(job.id, "alice", style_weight=1.0)
    with pytest.raises(ValueError, match="cannot be changed while running"):
        job2 = manager.submit("alice", content_image, [style_image], quick())
        manager.update(job2.id, "alice", size=900)


def test_a_failing_job_is_isolated_from_the_next(manager, content_image, style_image, tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(backbones, "_cache", dict(backbones._cache))
    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    bad = manager.submit("alice", content_image, [style_image], quick(backbone="vgg16"))
    good = manager.submit("alice", content_image, [style_image], quick())
    failed = manager.wait(bad.id, "alice")
    assert failed.status == "failed"
    assert "vgg16-397923af.pth" in failed.error and "\n" not in failed.error
    assert manager.wait(good.id, "alice").status == "done"


def test_frames_and_time_lapse_are_bounded_and_cover_the_run(content_image, style_image):
    m = LocalJobs(devices=["cpu"], limits=Limits(frame_history=4, frame_interval=0.0), nice=0)
    try:
        job = m.submit("alice", content_image, [style_image], quick(iterations=12))
        view = m.wait(job.id, "alice")
        assert view.status == "done" and view.frames <= 4
        seq, jpeg = m.frame(job.id, "alice")
        assert seq >= 12 and Image.open(io.BytesIO(jpeg)).size == (40, 48)
        gif = Image.open(io.BytesIO(m.timelapse(job.id, "alice", "gif")))
        assert gif.n_frames == min(view.frames, GIF_MAX_FRAMES) >= 3
        mp4 = m.timelapse(job.id, "alice")  # the default: H.264, built once when the job ended
        assert video_frames(mp4) >= view.frames and m.timelapse(job.id, "alice") is mp4
        assert len(m.loss_history(job.id, "alice")) == 12
    finally:
        m.shutdown()


def test_frame_history_keeps_first_and_last_and_thins_evenly():
    h = FrameHistory(4)
    for i in range(20):
        h.offer(bytes([i]), force=(i == 19))
    assert len(h) <= 4
    assert h.frames[0] == bytes([0]) and h.frames[-1] == bytes([19])


def test_other_sessions_cannot_see_or_touch_a_job(manager, content_image, style_image):
    job = manager.submit("alice", content_image, [style_image], quick())
    manager.wait(job.id, "alice")
    assert manager.get(job.id, "mallory") is None
    assert manager.list("mallory") == []
    for call in (manager.cancel, manager.frame, manager.result_png, manager.timelapse):
        with pytest.raises(JobNotFound):
            call(job.id, "mallory")
    with pytest.raises(JobNotFound):
        manager.update(job.id, "mallory", style_weight=1.0)
    assert [j.id for j in manager.list("alice")] == [job.id]


def test_limits_say_which_limit_and_what_to_do(content_image, style_image):
    m = LocalJobs(devices=["cpu"], limits=Limits(max_queued_per_session=2, max_queued_total=3, max_size=64), nice=0)
    try:
        with pytest.raises(LimitExceeded, match=r"between 16 and 64 px on this server \(got 128\)"):
            m.submit("a", content_image, [style_image], quick(size=128))
        for _ in range(2):
            m.submit("a", content_image, [style_image], quick(iterations=400))
        with pytest.raises(OverCapacity, match="you already have 2 jobs"):  # the same job goes through later
            m.submit("a", content_image, [style_image], quick())
        with pytest.raises(OverCapacity, match="queue is full"):
            for owner in "bcdefg":
                m.submit(owner, content_image, [style_image], quick())
    finally:
        m.shutdown()


def test_a_steered_and_stopped_job_records_its_steering_and_its_png_replays(manager, content_image, style_image):
    from styletransfer import stylize
    from styletransfer.images import read_png_settings

    job = manager.submit("alice", content_image, [style_image], quick(iterations=2000))
    wait_for(lambda: manager.get(job.id, "alice").iteration >= 2)
    manager.update(job.id, "alice", style_weight=100.0)
    wait_for(lambda: manager.get(job.id, "alice").events)
    wait_for(lambda: manager.get(job.id, "alice").iteration >= manager.get(job.id, "alice").events[0]
             ["iteration"] + 2)
    manager.cancel(job.id, "alice")
    view = manager.wait(job.id, "alice")
    assert view.status == "stopped"
    png = manager.result_png(job.id, "alice")
    record = read_png_settings(png)
    assert record == view.settings
    assert record["style_weight"] == 10.0 and record["stop_after"] == view.iteration
    assert record["schedule"] == [{"iteration": view.events[0]["iteration"],
                                   "weights": view.events[0]["weights"]}]
    replay = stylize(content_image, style_image, record)
    assert replay.tobytes() == Image.open(io.BytesIO(png)).convert("RGB").tobytes()


def test_shapes_the_engine_cannot_use_are_refused_at_submit(manager, style_image):
    with pytest.raises(ValueError, match="too narrow"):
        manager.submit("alice", Image.new("RGB", (4000, 60)), [style_image], quick(size=512))
    assert manager.list("alice") == []


def test_an_unexpected_error_reaches_the_user_as_one_plain_line(content_image, style_image, monkeypatch, caplog):
    from styletransfer.jobs import runloop

    class Broken(runloop.StyleTransfer):
        def run(self, *args, **kwargs):
            raise RuntimeError("Given input size: (64x1x64). Calculated output size: (64x0x32). "
                               "Output size is too small")
            yield

    monkeypatch.setattr("styletransfer.jobs.local.StyleTransfer", Broken)
    m = LocalJobs(devices=["cpu"], preload=None, nice=0)
    try:
        job = m.submit("alice", content_image, [style_image], quick())
        view = m.wait(job.id, "alice")
    finally:
        m.shutdown()
    assert view.status == "failed"
    assert view.error == "the job failed unexpectedly (RuntimeError); the details are in the server's log"
    assert "Output size is too small" in caplog.text  # the details: in the log, with the traceback


def test_the_time_limit_stops_a_job_and_keeps_its_image(content_image, style_image):
    m = LocalJobs(devices=["cpu"], limits=Limits(max_job_seconds=0.5), nice=0)
    try:
        job = m.submit("alice", content_image, [style_image], quick(iterations=2000))
        view = m.wait(job.id, "alice")
    finally:
        m.shutdown()
    assert view.status == "stopped" and 0 < view.iteration < 2000
    assert "time limit of" in view.note and m.result_png(job.id, "alice")[:4] == b"\x89PNG"


def test_the_work_budget_holds_whatever_the_request_claims(content_image, style_image):
    m = LocalJobs(devices=["cpu"], limits=Limits(max_work=1e6), preload=None, nice=0)
    try:
        with pytest.raises(LimitExceeded, match="megapixel-iterations of work"):
            m.submit("alice", content_image, [style_image], quick(size=128, iterations=100))
    finally:
        m.shutdown()


def test_every_painting_counts_in_the_work_budget(content_image, style_image):
    from styletransfer.engine import resolve
    from styletransfer.engine.work import work_of

    settings = resolve(quick(size=128, iterations=10), "cpu")
    one = work_of(settings, content_image.size, [style_image.size]).pixels
    m = LocalJobs(devices=["cpu"], limits=Limits(max_work=one * 1.05), preload=None, nice=0)
    try:
        m.cancel(m.submit("alice", content_image, [style_image], settings).id, "alice")
        with pytest.raises(LimitExceeded, match="megapixel-iterations of work"):
            m.submit("bob", content_image, [style_image] * 4, settings)  # four paintings' targets
    finally:
        m.shutdown()


def test_the_estimate_comes_from_this_machine_s_measured_speed(content_image, style_image):
    m = LocalJobs(devices=["cpu"], nice=0)  # calibrates once the weights are loaded
    try:
        wait_for(lambda: m.store.meter.known, timeout=120)
        small, big = (m.estimate(Settings(size=s, iterations=35)) for s in (256, 512))
        assert 0 < small < big
        assert m.estimate(Settings(size=512, iterations=35), (400, 100)) < big  # a strip is less work
    finally:
        m.shutdown()


def test_a_job_that_arrives_during_the_calibration_does_not_wait_for_it(monkeypatch, content_image, style_image):
    import threading

    from styletransfer.jobs import speed

    started, outcome, measure = threading.Event(), {}, speed.calibration

    def watched(device, stop, max_side):
        started.set()
        outcome["measured"] = []
        for meter in measure(device, stop=stop, max_side=max_side):
            outcome["measured"].append(meter)
            yield meter
        outcome["done"] = True

    monkeypatch.setattr(speed, "calibration", watched)
    m = LocalJobs(devices=["cpu"], nice=0)
    try:
        assert started.wait(120)
        job = m.submit("alice", content_image, [style_image], quick(iterations=3))
        assert m.wait(job.id, "alice").status == "done"
        wait_for(lambda: "done" in outcome)
        assert outcome["measured"] == []  # given up for the job
        assert m.store.meter.known  # the job measured the machine instead, by what it did
    finally:
        m.shutdown()


def test_run_again_reproduces_a_job_and_continue_goes_on_from_its_result(manager, content_image, style_image):
    first = manager.submit("alice", content_image, [style_image], quick(iterations=4, init="noise"))
    manager.wait(first.id, "alice")
    again = manager.rerun(first.id, "alice")
    assert manager.wait(again.id, "alice").status == "done"
    assert again.settings["seed"] == first.settings["seed"] == 0
    png = lambda job: Image.open(io.BytesIO(manager.result_png(job.id, "alice"))).convert("RGB")  # noqa: E731
    assert png(again).tobytes() == png(first).tobytes()  # same settings, same seed, same images
    more = manager.rerun(first.id, "alice", continue_iterations=6)
    done = manager.wait(more.id, "alice")
    assert done.status == "done" and done.iteration == 6 and done.scales == 1
    assert "continues job" in done.note and png(more).tobytes() != png(first).tobytes()
    # it went on, not from scratch: from scratch (same seed, same noise) it would start at the first job's
    # starting loss. (Not its last loss against the first's: L-BFGS reports each step's loss before the step,
    # and in bf16 a step of a tiny image can overshoot, so a history's last entry need not be its lowest.)
    first_start = manager.loss_history(first.id, "alice")[0]["total"]
    assert manager.loss_history(more.id, "alice")[0]["total"] < 0.9 * first_start
    with pytest.raises(JobNotFound):
        manager.rerun(first.id, "mallory")


def test_a_process_that_ends_mid_job_exits_cleanly(tmp_path):
    """Ctrl+C on ``python app.py`` while a job runs ends the process, not in an abort from a worker
    thread left inside torch ("terminate called without an active exception")."""
    import os
    import subprocess
    import sys

    script = tmp_path / "ends_mid_job.py"
    script.write_text(
        "import time\n"
        "from styletransfer.engine import Settings\n"
        "from styletransfer.examples import example_image\n"
        "from styletransfer.jobs import LocalJobs\n"
        "m = LocalJobs(devices=['cpu'])\n"
        "view = m.submit('me', example_image('hopper'), [example_image('swirls')],\n"
        "                Settings(size=96, iterations=500, multiscale=False))\n"
        "while m.get(view.id, 'me').iteration < 2:\n"
        "    time.sleep(0.05)\n"
        "print('ending mid-job', flush=True)\n")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    done = subprocess.run([sys.executable, str(script)], cwd=str(tmp_path), capture_output=True, text=True,
                          timeout=300, env=dict(os.environ, PYTHONPATH=root))
    assert "ending mid-job" in done.stdout
    assert done.returncode == 0, done.stderr[-2000:]
    assert "terminate called" not in done.stderr


def test_without_pyav_a_job_still_ends_done_and_the_gif_time_lapse_works(manager, content_image, style_image,
                                                                          monkeypatch, caplog):
    import sys

    monkeypatch.setitem(sys.modules, "av", None)  # `import av` fails, as where PyAV is not installed
    job = manager.submit("alice", content_image, [style_image], quick(iterations=4))
    view = manager.wait(job.id, "alice", timeout=120)
    assert view.status == "done" and view.error is None
    assert manager.result_png(job.id, "alice")
    assert manager.timelapse(job.id, "alice", "mp4") is None
    assert manager.timelapse(job.id, "alice", "gif").startswith(b"GIF8")
    assert "pip install av" in caplog.text


def test_a_backend_joins_every_thread_it_started_and_leaves_no_exit_handler():
    import atexit
    import threading

    LocalJobs(devices=["cpu"], preload=None, nice=0).shutdown()  # the one exit handler for all is registered
    threads, handlers = threading.active_count(), atexit._ncallbacks()
    for _ in range(3):
        m = LocalJobs(devices=["cpu"], preload=None, nice=0)
        assert threading.active_count() == threads + 1
        m.shutdown()
        assert threading.active_count() == threads
    assert atexit._ncallbacks() == handlers


def test_a_failing_calibration_is_logged_not_hidden(monkeypatch, caplog):
    def broken(device, stop, max_side):
        raise RuntimeError("the engine is broken")
        yield

    monkeypatch.setattr("styletransfer.jobs.speed.calibration", broken)
    m = LocalJobs(devices=["cpu"], nice=0)  # loads the weights, then calibrates
    try:
        wait_for(lambda: "speed calibration on cpu failed" in caplog.text, timeout=120)
    finally:
        m.shutdown()
    assert "the engine is broken" in caplog.text and not m.store.meter.known


def test_both_deployments_are_the_one_service_over_a_store_and_an_executor():
    import inspect

    from styletransfer.jobs.local import MemoryStore, ThreadExecutor
    from styletransfer.jobs.redis_backend import CeleryExecutor, RedisJobs, RedisStore
    from styletransfer.jobs.service import Executor, Jobs, JobStore

    # the rules are written once: the two deployments only choose their parts (and the embedded one its
    # shutdown's timeout)
    for service in (LocalJobs, RedisJobs):
        assert issubclass(service, Jobs)
        assert {n for n in vars(service) if not n.startswith("_")} <= {"shutdown"}, service.__name__
    for part, protocol in ((MemoryStore, JobStore), (RedisStore, JobStore), (ThreadExecutor, Executor),
                           (CeleryExecutor, Executor)):
        steps = {n for n, v in vars(protocol).items() if not n.startswith("_") and callable(v)}
        for name in steps:
            wanted = [p for p in inspect.signature(getattr(protocol, name)).parameters if p != "self"]
            have = [p for p in inspect.signature(getattr(part, name)).parameters if p != "self"]
            assert have[:len(wanted)] == wanted, (part.__name__, name)


def test_importing_the_app_starts_no_thread_and_loads_no_network():
    import os
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    probe = ("import threading, app\nfrom styletransfer import backbones\n"
             "print(threading.active_count(), len(backbones._cache))")
    done = subprocess.run([sys.executable, "-c", probe], cwd=root, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["1", "0"]
