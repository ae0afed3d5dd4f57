"""What an operator's tools see: /healthz, /readyz (503 with the reason) and /metrics, on both backends."""
from __future__ import annotations

import io
import json
import sys

import pytest

from redis_harness import FAST, Cluster, require_redis, wait_for
from styletransfer.jobs import LocalJobs
from styletransfer.limits import Limits
from styletransfer.web import create_app


def png(img) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def submit(client, content_image, style_image, **settings):
    settings = {"size": 48, "iterations": 3, "multiscale": False, **settings}
    return client.post("/api/jobs", data={"content": (io.BytesIO(png(content_image)), "p.png"),
                                          "style": (io.BytesIO(png(style_image)), "s.png"),
                                          "settings": json.dumps(settings)}, content_type="multipart/form-data")


def metric(text: str, line_start: str) -> float:
    """The value of the first sample whose line starts with ``line_start``."""
    return next(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(line_start))


def check_metrics_after_a_job(client, content_image, style_image, device: str):
    job = submit(client, content_image, style_image).get_json()
    wait_for(lambda: client.get(f"/api/jobs/{job['id']}").get_json()["status"] == "done", message="the job done")
    text = wait_for(lambda: (t := client.get("/metrics").get_data(as_text=True))
                    and "studio_jobs_finished_total{" in t and t, message="the finished job counted")
    assert metric(text, "studio_jobs_submitted_total ") >= 1
    assert metric(text, 'studio_jobs_finished_total{outcome="done"}') >= 1
    assert metric(text, f'studio_job_duration_seconds_count{{device="{device}",size="256"}}') >= 1
    assert metric(text, f'studio_seconds_per_iteration_bucket{{device="{device}",le="+Inf",size="256"}}') >= 1
    assert metric(text, "studio_queue_depth ") == 0 and metric(text, "studio_jobs_running ") == 0
    assert metric(text, f'studio_workers_alive{{device="{device}"}}') >= 1
    assert metric(text, 'studio_request_duration_seconds_count{route="/api/jobs"}') >= 1
    return text


def test_the_embedded_backend_is_healthy_ready_and_counted(content_image, style_image):
    jobs = LocalJobs(devices=["cpu"], limits=Limits(frame_interval=0.0), nice=0)
    try:
        client = create_app(jobs=jobs, quick=False, secret="ops").server.test_client()
        assert client.get("/healthz").get_json() == {"status": "ok"}
        ready = wait_for(lambda: client.get("/readyz").status_code == 200, message="ready")
        assert ready and client.get("/readyz").get_json() == {"status": "ready"}
        r = client.get("/metrics")
        assert r.headers["Content-Type"].startswith("text/plain") and "# TYPE studio_queue_depth gauge" in r.text
        text = check_metrics_after_a_job(client, content_image, style_image, "cpu")
    finally:
        jobs.shutdown()
    # every series the Grafana dashboard draws is one /metrics exports
    import os
    import re

    dashboard = open(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "deploy", "grafana",
                                  "style-studio.json")).read()
    for name in set(re.findall(r"studio_[a-z_]+", dashboard)):
        assert f"\n{name}" in text or f"\n{name}{{" in text, name


def test_not_ready_says_why(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # no cached torchvision weights: vgg16's are missing
    jobs = LocalJobs(devices=["cpu"], preload="vgg16", nice=0)
    try:
        client = create_app(jobs=jobs, quick=False, secret="ops").server.test_client()
        r = wait_for(lambda: (r := client.get("/readyz")).get_json()["reasons"] != ["the vgg16 weights are still "
                                                                                     "loading"] and r)
        assert r.status_code == 503 and "vgg16" in r.get_json()["reasons"][0]
        assert client.get("/healthz").status_code == 200  # the process answers: no reason to restart it
    finally:
        jobs.shutdown()


@pytest.mark.redis
def test_the_redis_backend_is_ready_only_with_a_worker_and_counts_what_workers_do(tmp_path, content_image,
                                                                               style_image):
    require_redis()
    cluster = Cluster(tmp_path)
    from styletransfer.jobs.redis_backend import RedisJobs

    jobs = RedisJobs(cluster.redis.url, Limits(worker_lost_s=float(FAST["STUDIO_WORKER_LOST_S"])))
    try:
        client = create_app(jobs=jobs, quick=False, secret="ops").server.test_client()
        r = client.get("/readyz")
        assert r.status_code == 503 and r.get_json()["reasons"] == [
            "no worker is alive: start one (python -m styletransfer.worker)"]
        cluster.start("a")
        wait_for(lambda: client.get("/readyz").status_code == 200, message="ready with a worker")
        check_metrics_after_a_job(client, content_image, style_image, "cpu")
        cluster.stop_workers()
        cluster.redis.stop()
        r = client.get("/readyz")
        assert r.status_code == 503 and r.get_json()["reasons"][0].startswith("Redis does not answer")
        r = client.get("/api/jobs")  # every route: one JSON line and when to try again, not an HTML 500
        assert r.status_code == 503 and r.is_json and "unavailable" in r.get_json()["error"]
        assert r.headers["Retry-After"] == "5"
        assert client.get("/healthz").status_code == 200
    finally:
        jobs.shutdown()
        cluster.stop_workers()


def test_under_gunicorn_the_processes_metrics_add_up(tmp_path):
    """gunicorn with two processes and prometheus_client's multiprocess mode: /metrics, whichever process
    answers it, counts every process's requests."""
    import requests

    from browser import Server, free_port

    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "--workers", "2", "--threads", "2", "--bind", f"127.0.0.1:{port}",
               "app:create_app()"]
    srv = Server(tmp_path, port=port, command=command, PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"))
    try:
        for _ in range(20):
            assert requests.get(srv.url + "/healthz", timeout=10).status_code == 200
        text = requests.get(srv.url + "/metrics", timeout=10).text
        assert metric(text, 'studio_request_duration_seconds_count{route="/healthz"}') == 20
        pids = {p.name.split("_")[-1] for p in (tmp_path / "metrics").glob("*.db")}
        assert len(pids) >= 2, pids  # both processes wrote their part
    finally:
        srv.stop()


@pytest.mark.redis
def test_with_redis_away_the_page_still_loads_and_says_so(tmp_path):
    require_redis()
    from redis_harness import RedisServer

    from styletransfer.jobs.redis_backend import RedisJobs

    redis_server = RedisServer(tmp_path)
    jobs = RedisJobs(redis_server.url, Limits())
    try:
        client = create_app(jobs=jobs, quick=False, secret="ops").server.test_client()
        assert client.get("/_dash-layout").status_code == 200
        redis_server.stop()
        r = client.get("/_dash-layout")  # no "Error loading layout": the page, with the notice
        assert r.status_code == 200 and "The job service is unavailable for a moment; your jobs are kept" in r.text
        assert client.get("/").status_code == 200
    finally:
        jobs.shutdown()
