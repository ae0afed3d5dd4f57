"""``python -m styletransfer.tools.hostile`` — an attacker's requests against the real server, memory watched."""
from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import sys
import tempfile
import threading
import time

from .loadtest import embedded_studio, redis_studio


def rss_of_group(pid: int) -> int:
    """Resident bytes of ``pid`` and every process in its process group (gunicorn's workers)."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.getpgid(int(entry)) != pid:
                continue
            with open(f"/proc/{entry}/statm") as f:
                total += int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError):
            continue
    return total


class PeakMemory:
    """Samples a process group's RSS in a thread while a request is answered."""

    def __init__(self, pid: int):
        self.pid, self.peak, self.done = pid, 0, threading.Event()

    def __enter__(self):
        self.peak = rss_of_group(self.pid)
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        return self

    def _sample(self):
        while not self.done.wait(0.02):
            self.peak = max(self.peak, rss_of_group(self.pid))

    def __exit__(self, *exc):
        self.done.set()
        self.thread.join()
        time.sleep(0.3)  # what the process keeps after answering counts too
        self.peak = max(self.peak, rss_of_group(self.pid))


def png_bytes(size: tuple[int, int]) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, (120, 90, 60)).save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def requests_to_send(base: str) -> list[tuple[str, callable]]:
    """(what, send) pairs; ``send()`` returns the status codes it got."""
    import requests

    flat = png_bytes((7000, 7000))
    small = png_bytes((64, 64))
    photo = png_bytes((320, 240))
    big_json = b"[" + b"0," * (39 * 2**20) + b"0]"  # 78 MB of valid JSON
    big_string = b'{"output": "' + b"x" * (78 * 2**20) + b'"}'  # as large, one string: the shape of an upload
    deep = "[" * 1000 + "]" * 1000

    def post(path, **kw):
        try:
            return requests.post(base + path, timeout=120, **kw).status_code
        except requests.RequestException as exc:
            return type(exc).__name__

    def chunks(total=200 * 2**20, piece=2**20):
        for _ in range(total // piece):
            yield b"0" * piece

    def at_once(n, fn):
        out = [None] * n
        threads = [threading.Thread(target=lambda i=i: out.__setitem__(i, fn())) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return out

    files = lambda styles: [("content", ("photo.png", photo))] + [("style", (f"s{i}.png", s)) for i, s in  # noqa: E731
                                                                   enumerate(styles)]
    json_headers = {"Content-Type": "application/json"}
    return [
        ("10 flat 7000×7000 PNGs as paintings", lambda: [post("/api/jobs", files=files([flat] * 10))]),
        ("3 flat 7000×7000 PNGs as paintings", lambda: [post("/api/jobs", files=files([flat] * 3))]),
        ("500 paintings of 64 px", lambda: [post("/api/jobs", files=files([small] * 500))]),
        ("a flat 7000×7000 PNG to /api/uploads, three at once", lambda: at_once(
            3, lambda: post("/api/uploads", files=[("file", ("flat.png", flat))]))),
        ("78 MB JSON to /_dash-update-component", lambda: [post("/_dash-update-component", data=big_json,
                                                                 headers=json_headers)]),
        ("the same, three at once", lambda: at_once(3, lambda: post("/_dash-update-component", data=big_json,
                                                                     headers=json_headers))),
        ("a 78 MB JSON string to /_dash-update-component, three at once", lambda: at_once(
            3, lambda: post("/_dash-update-component", data=big_string, headers=json_headers))),
        ("78 MB JSON to /api/jobs/x/weights", lambda: [post("/api/jobs/x/weights", data=big_json,
                                                             headers=json_headers)]),
        ("chunked 200 MB to /api/jobs", lambda: [post("/api/jobs", data=chunks(),
                                                      headers={"Content-Type": "multipart/form-data; boundary=x"})]),
        ("chunked 200 MB to /_dash-update-component", lambda: [post("/_dash-update-component", data=chunks(),
                                                                    headers=json_headers)]),
        ("JSON 1000 deep: settings, weights, callback", lambda: [
            post("/api/jobs", files=files([small]), data={"settings": deep}),
            post("/api/jobs/x/weights", data=deep, headers=json_headers),
            post("/_dash-update-component", data=deep, headers=json_headers)]),
        ("a 10 MB settings string", lambda: [post("/api/jobs", files=files([small]),
                                                  data={"settings": json.dumps("x" * 10 * 2**20)})]),
        ("made-up /_dash-component-suites/ paths", lambda: [
            requests.get(base + p, timeout=30).status_code for p in
            ("/_dash-component-suites/dash/%2e%2e/%2e%2e/etc/passwd", "/_dash-component-suites/nope/x.js",
             "/_dash-component-suites/dash/deps/%00.js")]),
    ]


def settled_rss(base: str, pid: int, timeout: float = 300) -> int:
    """The process's RSS once it stopped growing (5 s within 5 MB)."""
    import requests

    deadline = time.time() + timeout
    while time.time() < deadline and requests.get(base + "/readyz", timeout=10).status_code != 200:
        time.sleep(1)
    last = rss_of_group(pid)
    while time.time() < deadline:
        time.sleep(5)
        now = rss_of_group(pid)
        if abs(now - last) < 5 * 2**20:
            return now
        last = now
    return last


def attack(base: str, pid: int) -> list[dict]:
    idle = settled_rss(base, pid)
    rows = []
    for what, send in requests_to_send(base):
        started = time.time()
        with PeakMemory(pid) as memory:
            statuses = send()
        rows.append({"request": what, "statuses": statuses, "seconds": round(time.time() - started, 2),
                     "idle_mb": round(idle / 2**20), "over_idle_mb": round((memory.peak - idle) / 2**20)})
        print(f"  {what}: {statuses} in {rows[-1]['seconds']:.1f} s, peak {rows[-1]['over_idle_mb']:+d} MB "
              f"over idle ({rows[-1]['idle_mb']} MB)", flush=True)
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m styletransfer.tools.hostile", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--skip-redis", action="store_true")
    args = p.parse_args(argv)
    from ..engine.hardware import describe_machine

    print(f"machine: {describe_machine()}", flush=True)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        env = {"STUDIO_STATE_DIR": tmp, "STUDIO_MAX_NEW_SESSIONS_PER_MIN": "1000"}
        with embedded_studio(tmp, env) as (base, app):
            print("python app.py (embedded backend):", flush=True)
            results["embedded"] = attack(base, app.proc.pid)
        if not args.skip_redis and shutil.which("redis-server"):
            with redis_studio(tmp, env, web_processes=1) as (base, web, _):
                print("gunicorn, 1 process, on Redis + 1 worker:", flush=True)
                results["redis"] = attack(base, web.proc.pid)
    for name, rows in results.items():
        worst = max(rows, key=lambda r: r["over_idle_mb"])
        print(f"{name}: worst peak {worst['over_idle_mb']:+d} MB over idle ({worst['request']})")
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
