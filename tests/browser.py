"""Helpers for the browser tests: a real studio server in a subprocess and headless Chromium.

Chromium and ChromeDriver come from Debian (`apt-get install chromium chromium-driver`). Without them
the browser tests skip on a user's machine; under CI (CI=true) a missing browser is a failure.
"""
from __future__ import annotations

import os
import signal
import shutil
import socket
import subprocess
import sys
import time

import pytest
import requests

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
CHROMEDRIVER = shutil.which("chromedriver")


def require_browser():
    if CHROMIUM and CHROMEDRIVER:
        return
    message = "headless Chromium not found: apt-get install chromium chromium-driver"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``python app.py`` on a free port, the way a person starts it."""

    def __init__(self, tmp_path, port: int | None = None, command: list[str] | None = None, **env):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        environment = dict(os.environ, PORT=str(self.port), HOST="127.0.0.1", PYTHONUNBUFFERED="1",
                           TORCH_HOME=str(tmp_path / "torch-home"), STUDIO_STATE_DIR=str(tmp_path / "state"),
                           # any download attempt fails at once, as on a machine with no network
                           http_proxy="http://127.0.0.1:9", https_proxy="http://127.0.0.1:9",
                           HTTP_PROXY="http://127.0.0.1:9", HTTPS_PROXY="http://127.0.0.1:9",
                           # every browser and API session of a test file comes from 127.0.0.1, faster than a
                           # person starts them (the limit itself: test_web_api)
                           STUDIO_MAX_NEW_SESSIONS_PER_MIN="10000")
        environment.update({k: str(v) for k, v in env.items()})
        self.log = open(tmp_path / f"server-{self.port}.log", "w+")
        self.proc = subprocess.Popen(command or [sys.executable, "app.py"], cwd=ROOT, env=environment,
                                     stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + 90
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"studio exited: {self.output()}")
            try:
                if requests.get(self.url + "/", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                time.sleep(0.3)
        raise RuntimeError(f"studio did not start: {self.output()}")

    def output(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read()[-4000:]

    def alive(self) -> bool:
        return self.proc.poll() is None and requests.get(self.url + "/api/jobs", timeout=5).status_code == 200

    def kill(self):
        """SIGKILL to the server's whole process group (gunicorn's workers too): nothing gets to clean up."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        self.log.close()

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def chrome(width=1400, height=1000):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    for arg in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", f"--window-size={width},{height}"]:
        opts.add_argument(arg)
    opts.binary_location = CHROMIUM
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # console errors, for diagnose()
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)


def diagnose(driver, server: Server | None = None) -> str:
    """What a page that never got where a test waited for shows: its console, its text, the server's log."""
    parts = []
    try:
        parts.append("console: " + " | ".join(e["message"] for e in driver.get_log("browser"))[-3000:])
        parts.append("page text: " + driver.execute_script("return document.body.innerText")[:1500])
    except Exception as exc:  # the browser itself is gone
        parts.append(f"browser unreadable: {exc!r}")
    if server is not None:
        parts.append("server log: " + server.output()[-3000:])
    return "\n".join(parts)


def session_of(driver, base_url) -> requests.Session:
    """A requests session carrying the browser's cookies (to read the API as that browser)."""
    s = requests.Session()
    for c in driver.get_cookies():
        s.cookies.set(c["name"], c["value"])
    s.headers["Referer"] = base_url
    return s


def wait_until(predicate, timeout=60.0, interval=0.1, message="condition"):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            last = predicate()
        except Exception as exc:  # stale elements while Dash re-renders
            last = exc
            last_ok = False
        else:
            last_ok = bool(last)
        if last_ok:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {message} (last: {last!r})")
