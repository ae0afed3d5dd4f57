"""The studio on the Redis + Celery backend, in headless Chromium: gunicorn with two processes, real workers.

The in-process studio's whole-session and other-session tests, and /quick's two sessions at once, run here
again unchanged (imported below);
then what only a stateless web tier can do: a web process killed and started again, and two web
processes serving one browser session.
"""
from __future__ import annotations

import sys
import time

import pytest
import requests

from browser import Server, chrome, free_port, require_browser, session_of, wait_until
from redis_harness import FAST, running_cluster
from test_quick_browser import pictures, test_two_sessions_at_once_each_get_their_own_result  # noqa: F401
from test_studio_browser import (browser, files, preview_seq, ready_to_start, status,  # noqa: F401 (fixtures)
                                 test_a_whole_session_upload_start_watch_steer_stop_download,
                                 test_another_session_cannot_see_the_job_its_frames_or_downloads)

pytestmark = [pytest.mark.browser, pytest.mark.redis]
SECRET = "a-secret-every-web-process-shares"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    require_browser()
    yield from running_cluster(tmp_path_factory)


def web(cluster, tmp_path, processes: int = 2, port: int | None = None, **env) -> Server:
    """The studio on Redis: gunicorn with ``processes`` worker processes (0: ``python app.py``)."""
    port = port or free_port()
    command = None
    if processes:
        command = [sys.executable, "-m", "gunicorn", "--workers", str(processes), "--threads", "4",
                   "--bind", f"127.0.0.1:{port}", "--access-logfile", "-", "app:create_app()"]
    return Server(tmp_path, port=port, command=command, STUDIO_REDIS_URL=cluster.redis.url,
                  STUDIO_SECRET_KEY=SECRET, **FAST, **env)


@pytest.fixture(scope="module")
def server(cluster, tmp_path_factory):
    srv = web(cluster, tmp_path_factory.mktemp("web"), STUDIO_MAX_UPLOAD_MB=2, STUDIO_MAX_SIZE=1024)
    yield srv
    srv.stop()


def start_a_job(driver, files, quality_keys: int = 10):
    from selenium.webdriver.common.keys import Keys

    ready_to_start(driver, files)
    thumb = driver.find_element("css selector", "#iterations [role=slider]")
    thumb.click()
    for key in [Keys.HOME] + [Keys.ARROW_RIGHT] * quality_keys:
        thumb.send_keys(key)
    driver.find_element("id", "start-button").click()
    wait_until(lambda: preview_seq(driver) > 0, timeout=60, message="first frame")


def test_the_web_process_killed_and_started_again_loses_nothing(cluster, files, tmp_path):
    srv = web(cluster, tmp_path, processes=0)
    driver = chrome()
    try:
        driver.get(srv.url + "/")
        start_a_job(driver, files, quality_keys=40)  # 205 iterations at 256 px
        job_id = session_of(driver, srv.url).get(srv.url + "/api/jobs").json()[-1]["id"]
        srv.kill()
        srv = web(cluster, tmp_path, processes=0, port=srv.port)
        driver.refresh()  # the page comes back with the session's job, still running
        wait_until(lambda: preview_seq(driver) > 0, timeout=30, message="the job's preview after the restart")
        assert status(driver) in ("running", "done")
        api = session_of(driver, srv.url)
        assert api.get(srv.url + "/api/jobs").json()[-1]["id"] == job_id
        if status(driver) == "running":
            assert driver.find_element("id", "stop-button").is_enabled()
            driver.find_element("id", "stop-button").click()
        wait_until(lambda: status(driver) in ("stopped", "done"), timeout=60, message="finished")
        href = wait_until(lambda: driver.find_element("id", "download-result").get_attribute("href"), message="link")
        png = api.get(href)
        assert png.status_code == 200 and png.content[:4] == b"\x89PNG"
    finally:
        driver.quit()
        srv.stop()


def test_two_web_processes_serve_one_session_and_no_other(cluster, files, tmp_path):
    one, two = web(cluster, tmp_path, processes=0), web(cluster, tmp_path, processes=0)
    driver = chrome()
    try:
        driver.get(one.url + "/")
        start_a_job(driver, files)
        owner = session_of(driver, one.url)  # the browser's signed cookie, sent to either process
        job_id = owner.get(one.url + "/api/jobs").json()[-1]["id"]
        assert owner.get(two.url + "/api/jobs").json()[-1]["id"] == job_id
        assert owner.get(f"{two.url}/frames/{job_id}/latest.jpg").status_code == 200
        driver.get(two.url + "/")  # the same browser on the other process: its job is on the page
        wait_until(lambda: preview_seq(driver) > 0, timeout=30, message="the job on the other process")
        stranger = requests.Session()
        stranger.cookies.set("studio_session", "made-up-by-the-client-0123456789")  # never adopted
        for srv in (one, two):
            for path in (f"/api/jobs/{job_id}", f"/frames/{job_id}/latest.jpg", f"/download/{job_id}/result.png",
                         f"/download/{job_id}/timelapse.gif"):
                assert stranger.get(srv.url + path).status_code == 404, (srv.url, path)
            assert stranger.post(f"{srv.url}/api/jobs/{job_id}/cancel").status_code == 404
            assert stranger.get(srv.url + "/api/jobs").json() == []
        owner.post(f"{two.url}/api/jobs/{job_id}/cancel")
        wait_until(lambda: owner.get(f"{one.url}/api/jobs/{job_id}").json()["status"] in ("stopped", "done"),
                   timeout=60, message="cancelled through the other process")
    finally:
        driver.quit()
        one.stop()
        two.stop()
    time.sleep(0.1)


def test_a_redis_outage_mid_job_is_said_and_ridden_out(cluster, files, tmp_path):
    """redis-server stopped (SIGTERM, append-only) for longer than a lost worker's limit while a job runs,
    with the page open, then started again: the page says so instead of freezing, the API answers JSON
    503, and the job carries on on its worker — the same attempt, no iteration lost or done twice."""
    srv = web(cluster, tmp_path, processes=0)
    driver = chrome()
    try:
        driver.get(srv.url + "/")
        start_a_job(driver, files, quality_keys=40)
        api = session_of(driver, srv.url)
        job = api.get(srv.url + "/api/jobs").json()[-1]
        wait_until(lambda: api.get(f"{srv.url}/api/jobs/{job['id']}").json()["iteration"] >= 5, timeout=60,
                   message="a few iterations")
        cluster.redis.proc.terminate()
        cluster.redis.proc.wait(20)
        down_at = time.time()
        notice = driver.find_element("id", "service-notice")
        wait_until(lambda: notice.is_displayed() and "job service is unavailable" in notice.text, timeout=15,
                   message="the open page saying the service is away")
        driver.save_screenshot(str(tmp_path / "outage.png"))  # to look at: the notice above the running job
        r = requests.get(srv.url + "/api/jobs", cookies=api.cookies)
        assert r.status_code == 503 and r.headers["Retry-After"] and "your jobs are kept" in r.json()["error"]
        layout = requests.get(srv.url + "/_dash-layout")  # a page loaded now: the page, with the notice
        assert layout.status_code == 200 and "job service is unavailable" in layout.text
        time.sleep(max(0.0, down_at + 3 * float(FAST["STUDIO_WORKER_LOST_S"]) - time.time()))  # past the lease
        cluster.redis.log.close()
        cluster.redis.start()
        wait_until(lambda: not notice.is_displayed(), timeout=20, message="the notice gone once Redis is back")
        carried = wait_until(lambda: (lambda v: v if "unreachable" in (v["note"] or "") else None)(
            api.get(f"{srv.url}/api/jobs/{job['id']}").json()), timeout=30, message="the job carrying on")
        assert carried["status"] == "running" and carried["attempt"] == 1, carried
        assert "waited on its worker and carried on at iteration" in carried["note"]
        driver.find_element("id", "stop-button").click()
        ended = wait_until(lambda: (lambda v: v if v["status"] in ("stopped", "done") else None)(
            api.get(f"{srv.url}/api/jobs/{job['id']}").json()), timeout=60, message="stopped")
        assert ended["attempt"] == 1
        losses = api.get(f"{srv.url}/api/jobs/{job['id']}").json()["losses"]
        assert losses  # and every iteration once, in order:
        from styletransfer.jobs.redis_backend import RedisJobs

        jobs = RedisJobs(cluster.redis.url, watchdog=False)
        try:
            owner = jobs.store.r.hget(f"st:job:{job['id']}", "owner").decode().strip('"')
            its = [h["iteration"] for h in jobs.loss_history(job["id"], owner)]
        finally:
            jobs.shutdown()
        assert its == list(range(1, ended["iteration"] + 1))
        # the worker goes on taking jobs as usual
        with open(files["photo"], "rb") as photo, open(files["painting"], "rb") as painting:
            nxt = api.post(srv.url + "/api/jobs", files={"content": photo, "style": painting},
                           data={"settings": '{"size": 64, "iterations": 3, "multiscale": false}'})
        assert nxt.status_code == 201, nxt.text
        assert wait_until(lambda: api.get(f"{srv.url}/api/jobs/{nxt.json()['id']}").json()["status"] == "done",
                          timeout=60, message="the next job done")
    finally:
        driver.quit()
        srv.stop()
