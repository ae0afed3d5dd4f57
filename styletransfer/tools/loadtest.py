"""``python -m styletransfer.tools.loadtest`` — the studio under many polling sessions: latency percentiles."""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time



def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Process:
    """A child process in its own process group, its output in a file; stopped with its children."""

    def __init__(self, args: list[str], env: dict, log_path: str, ready=None, timeout: float = 90):
        self.log_path = log_path
        self.log = open(log_path, "w")
        self.proc = subprocess.Popen(args, env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
                                     stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + timeout
        while ready and not ready():
            if self.proc.poll() is not None or time.time() > deadline:
                self.stop()
                raise RuntimeError(f"{args[:4]} did not start: {open(log_path).read()[-2000:]}")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.log.close()


def http_ok(url: str) -> bool:
    import requests

    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


@contextlib.contextmanager
def embedded_studio(workdir: str, env: dict):
    """``python app.py`` on a free port: yields (its address, its process)."""
    port = free_port()
    app = Process([sys.executable, "-m", "styletransfer.studio"], {**env, "PORT": str(port)},
                  os.path.join(workdir, "app.log"), ready=lambda: http_ok(f"http://127.0.0.1:{port}/"))
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        app.stop()


@contextlib.contextmanager
def redis_studio(workdir: str, env: dict, web_processes: int = 2, threads: int = 8):
    """redis-server, a CPU worker and gunicorn on free ports: yields (address, gunicorn, Redis URL)."""
    import redis

    rport, wport = free_port(), free_port()
    url = f"redis://127.0.0.1:{rport}/0"
    server = Process(["redis-server", "--port", str(rport), "--bind", "127.0.0.1", "--dir", workdir,
                      "--appendonly", "yes", "--save", ""], {}, os.path.join(workdir, "redis.log"),
                     ready=lambda: _redis_up(redis, rport))
    env = {**env, "STUDIO_REDIS_URL": url, "STUDIO_SECRET_KEY": "loadtest"}
    worker = web = None
    try:
        worker = Process([sys.executable, "-m", "styletransfer.worker", "--device", "cpu"], env,
                         os.path.join(workdir, "worker.log"),
                         ready=lambda: "ready." in open(os.path.join(workdir, "worker.log")).read())
        web = Process([sys.executable, "-m", "gunicorn", "--workers", str(web_processes), "--threads", str(threads),
                       "--bind", f"127.0.0.1:{wport}", "styletransfer.studio:wsgi_app()"], env,
                      os.path.join(workdir, "web.log"), ready=lambda: http_ok(f"http://127.0.0.1:{wport}/"))
        yield f"http://127.0.0.1:{wport}", web, url
    finally:
        for process in (web, worker, server):
            if process is not None:
                process.stop()


class PageSession:
    """One browser's worth of requests: the page, Start through the page's callback, then its polling."""

    def __init__(self, base: str, deps: list[dict]):
        import requests

        self.base, self.http = base, requests.Session()
        self.http.get(base + "/", timeout=30)  # the session cookie
        self.start_dep = next(d for d in deps if d["inputs"][0]["id"] == "start-button")
        self.poll_dep = next(d for d in deps if d["inputs"][0]["id"] == "poll")
        self.job_id, self.chart, self.n = None, None, 0

    @staticmethod
    def _outputs(dep) -> list[dict]:
        parts = dep["output"].strip(".").split("...")
        return [{"id": p.split(".", 1)[0], "property": p.split(".", 1)[1]} for p in parts]

    def _call(self, dep, inputs: list[dict], state_values: dict) -> dict:
        body = {"output": dep["output"], "outputs": self._outputs(dep), "inputs": inputs,
                "changedPropIds": [f"{i['id']}.{i['property']}" for i in inputs],
                "state": [{**s, "value": state_values.get(f"{s['id']}.{s['property']}")} for s in dep["state"]]}
        response = self.http.post(self.base + "/_dash-update-component", json=body, timeout=60)
        response.raise_for_status()
        return response.json().get("response", {})

    def upload(self, png: bytes, name: str) -> str:
        """A file sent as the page's uploads.js sends it; its address."""
        response = self.http.post(self.base + "/api/uploads", files={"file": (name, png, "image/png")}, timeout=60)
        response.raise_for_status()
        return response.json()["url"]

    def start(self, photo: bytes, painting: bytes, size: int, iterations: int) -> str:
        out = self._call(self.start_dep, [{"id": "start-button", "property": "n_clicks", "value": 1}], {
            "content-upload.contents": self.upload(photo, "photo.png"),
            "style-upload.contents": self.upload(painting, "painting.png"), "style-blend.value": 0.5,
            "content-weight.value": 0.0, "style-weight.value": 1.0, "tv-weight.value": 0.477, "size.value": size,
            "iterations.value": iterations, "backbone.value": "vgg19", "optimizer.value": "lbfgs",
            "options.value": ["multiscale"]})
        self.job_id = out["job-id"]["data"]
        return self.job_id

    def poll(self) -> tuple[float, str | None]:
        """One poll, as the page makes it; (seconds, the preview URL the page would now show)."""
        self.n += 1
        t = time.perf_counter()
        out = self._call(self.poll_dep, [{"id": "poll", "property": "n_intervals", "value": self.n}],
                         {"job-id.data": self.job_id, "chart-state.data": self.chart})
        elapsed = time.perf_counter() - t
        self.chart = out.get("chart-state", {}).get("data", self.chart)
        return elapsed, out.get("preview-image", {}).get("src")

    def api_job(self) -> dict:
        return self.http.get(f"{self.base}/api/jobs/{self.job_id}", timeout=30).json()


def percentiles(samples: list[float]) -> str:
    if not samples:
        return "no samples"
    s = sorted(samples)
    p = lambda q: s[min(len(s) - 1, int(q * len(s)))] * 1000  # noqa: E731
    return f"p50 {p(0.5):.0f} ms, p95 {p(0.95):.0f} ms, max {s[-1] * 1000:.0f} ms ({len(s)} requests)"


def job_speed(session: PageSession, timeout: float = 900) -> float:
    """Seconds per iteration of a running job, from its progress seen through the API, over its last scale."""
    marks = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        job = session.api_job()
        marks.append((job["iteration"], job["elapsed"], job["scale"], job["scales"], job["status"]))
        if job["status"] in ("done", "stopped", "failed"):
            break
        time.sleep(0.5)
    last = [m for m in marks if m[2] == marks[-1][3] and m[0] > 0]
    if len(last) < 2 or last[-1][0] == last[0][0]:
        raise RuntimeError(f"too few progress points: {marks[-3:]}")
    return (last[-1][1] - last[0][1]) / (last[-1][0] - last[0][0])


def scenario(base: str, sessions: int, seconds: float, size: int, iterations: int) -> dict:
    import requests

    from ..examples import example_image
    from ..images import png_bytes

    deps = requests.get(base + "/_dash-dependencies", timeout=30).json()
    photo, painting = png_bytes(example_image("hopper")), png_bytes(example_image("swirls"))
    alone = PageSession(base, deps)
    alone.start(photo, painting, size, iterations)
    quiet = job_speed(alone)

    people = [PageSession(base, deps) for _ in range(sessions)]
    for person in people:
        person.start(photo, painting, size, iterations)
    latencies: dict[str, list[float]] = {"progress callback": [], "preview JPEG": []}
    errors: dict[str, int] = {"progress callback": 0, "preview JPEG": 0}
    lock = threading.Lock()
    finished = threading.Event()  # the load lasts as long as the measured job, at most `seconds` more

    def browse(person: PageSession):
        shown = None
        deadline = time.time() + seconds + 900
        while not finished.is_set() and time.time() < deadline:
            tick = time.perf_counter()
            try:
                took, src = person.poll()
                with lock:
                    latencies["progress callback"].append(took)
                if src and src != shown:
                    t = time.perf_counter()
                    r = person.http.get(base + src, timeout=30)
                    with lock:
                        latencies["preview JPEG"].append(time.perf_counter() - t)
                        errors["preview JPEG"] += r.status_code != 200
                    shown = src
            except Exception:  # noqa: BLE001 — counted, and the session goes on as a browser would
                with lock:
                    errors["progress callback"] += 1
            time.sleep(max(0.0, 0.4 - (time.perf_counter() - tick)))

    threads = [threading.Thread(target=browse, args=(p,)) for p in people]
    for t in threads:
        t.start()
    loaded = job_speed(people[0], timeout=seconds + 600)
    finished.set()
    for t in threads:
        t.join()
    for person in people:
        person.http.post(f"{base}/api/jobs/{person.job_id}/cancel", timeout=30)
    return {"quiet": quiet, "loaded": loaded, "latencies": latencies, "errors": errors}


def redis_cost(size: int, iterations: int, redis_url: str, workdir: str) -> dict:
    """The same job on the embedded backend and through Redis + a worker process."""
    from ..engine import Settings
    from ..examples import example_image
    from ..jobs import LocalJobs
    from ..jobs.redis_backend import RedisJobs
    from ..limits import Limits

    photo, painting = example_image("hopper"), example_image("swirls")
    settings = Settings(size=size, iterations=iterations, multiscale=False, seed=0)
    out = {}
    for name, make in (("embedded", lambda: LocalJobs(devices=["cpu"], preload="vgg19", nice=0)),
                       ("redis", lambda: RedisJobs(redis_url, Limits()))):
        jobs = make()
        try:
            # warm: weights loaded and the convolutions' kernels chosen for this shape, on both sides
            jobs.wait(jobs.submit("cost", photo, [painting], Settings(size=size, iterations=1, multiscale=False,
                                                                       seed=0)).id, "cost", timeout=600)
            t = time.perf_counter()
            view = jobs.submit("cost", photo, [painting], settings)
            while jobs.get(view.id, "cost").frame_seq == 0:
                time.sleep(0.005)
            first = time.perf_counter() - t
            jobs.wait(view.id, "cost", timeout=1800)
            elapsed = [h["elapsed"] for h in jobs.loss_history(view.id, "cost")]
            out[name] = {"first_frame": first,
                         "per_iteration": statistics.median(b - a for a, b in zip(elapsed[1:], elapsed[2:]))}
        finally:
            jobs.shutdown()
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m styletransfer.tools.loadtest", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sessions", type=int, default=20)
    p.add_argument("--seconds", type=float, default=300, help="the most the load may last")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--iterations", type=int, default=60, help="final-scale iterations of each job")
    p.add_argument("--skip-redis", action="store_true")
    p.add_argument("--skip-load", action="store_true", help="only the Redis path's cost")
    args = p.parse_args(argv)
    from ..engine.hardware import describe_machine

    print(f"machine: {describe_machine()}", flush=True)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        env = {"STUDIO_STATE_DIR": tmp, "STUDIO_MAX_QUEUED_TOTAL": str(args.sessions + 5)}
        if not args.skip_load:
            with embedded_studio(tmp, env) as (base, _):
                results["python app.py (embedded backend)"] = scenario(
                    base, args.sessions, args.seconds, args.size, args.iterations)
        if not args.skip_redis and shutil.which("redis-server"):
            with redis_studio(tmp, env) as (base, web, url):
                if not args.skip_load:
                    results["gunicorn, 2 processes, on Redis + 1 worker"] = scenario(
                        base, args.sessions, args.seconds, args.size, args.iterations)
                web.stop()
                cost = redis_cost(512, 12, url, tmp)
        else:
            cost = None
            print("the Redis figures are skipped: " + ("--skip-redis" if args.skip_redis else
                                                         "redis-server is not installed"), file=sys.stderr)

    print()
    print(f"{args.sessions} sessions polling while a {args.size}-px job runs:")
    for name, r in results.items():
        print(f"\n{name}")
        for kind, samples in r["latencies"].items():
            print(f"  {kind}: {percentiles(samples)}, errors {r['errors'][kind]}")
        print(f"  running job: {r['quiet']:.3f} s/iteration alone, {r['loaded']:.3f} with the load "
              f"({r['loaded'] / r['quiet']:.2f}×)")
    if cost:
        e, rd = cost["embedded"], cost["redis"]
        print("\nthe same 512-px job, embedded backend vs Redis + a worker process:")
        print(f"  s/iteration: {e['per_iteration']:.3f} vs {rd['per_iteration']:.3f} "
              f"({(rd['per_iteration'] / e['per_iteration'] - 1) * 100:+.1f} %)")
        print(f"  submit → first frame: {e['first_frame']:.2f} s vs {rd['first_frame']:.2f} s "
              f"({rd['first_frame'] - e['first_frame']:+.2f} s)")
    print(json.dumps({"results": {k: {"quiet": v["quiet"], "loaded": v["loaded"], "errors": v["errors"]}
                                  for k, v in results.items()}, "cost": cost}))
    return 0


def _redis_up(redis_module, port: int) -> bool:
    try:
        return redis_module.Redis(port=port).ping()
    except redis_module.ConnectionError:
        return False


if __name__ == "__main__":
    sys.exit(main())
