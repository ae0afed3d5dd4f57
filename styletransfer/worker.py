"""``python -m styletransfer.worker`` — the Redis backend's Celery workers (docs/deploy.md)."""
from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time

from .config import Config

RESTART_DELAYS = (1, 2, 5, 10, 30)  # seconds before starting a child again, growing while it keeps dying


def parse_devices(spec: str, cuda_count: int) -> list[str]:
    """``all`` (every GPU, else one CPU worker), ``cuda:0,cuda:2`` or ``cpu[:N]`` -> one device per worker."""
    spec = spec.strip()
    if spec == "all":
        return [f"cuda:{i}" for i in range(cuda_count)] or ["cpu"]
    if spec == "cpu" or spec.startswith("cpu:"):
        count = spec[4:] or "1"
        if not count.isdigit() or not 1 <= int(count) <= 64:
            raise ValueError(f"--devices {spec}: cpu takes a number of workers from 1 to 64, e.g. cpu:2")
        return ["cpu"] * int(count)
    devices = [d.strip() for d in spec.split(",") if d.strip()]
    for d in devices:
        index = d[5:] if d.startswith("cuda:") else ""
        if not index.isdigit():
            raise ValueError(f"--devices: {d!r} is not cuda:N (give all, cpu[:N] or cuda:0,cuda:1,…)")
        if int(index) >= cuda_count:
            raise ValueError(f"--devices: {d} is not on this machine ({cuda_count} GPU(s))")
    if not devices or len(set(devices)) != len(devices):
        raise ValueError("--devices: name each GPU once")
    return devices


class Supervisor:
    """One worker process per device, started again when one dies; all stopped on SIGTERM/SIGINT."""

    def __init__(self, devices: list[str], redis_url: str, loglevel: str, grace_s: float = 30.0):
        self.devices, self.redis_url, self.loglevel, self.grace_s = devices, redis_url, loglevel, grace_s
        self.children: list[subprocess.Popen | None] = [None] * len(devices)
        self.failures = [0] * len(devices)
        self.stopping = False

    def command(self, index: int) -> list[str]:
        device = self.devices[index]
        name = f"stylize-{device.replace(':', '')}-{index}@%h"
        return [sys.executable, "-m", "styletransfer.worker", "--device", device, "--redis", self.redis_url,
                "--name", name, "--loglevel", self.loglevel, "--threads", str(self.threads_each())]

    def threads_each(self) -> int:
        """CPU workers share the cores; each GPU worker keeps a few for its Python side."""
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        return max(1, cpus // len(self.devices))

    def start(self, index: int) -> None:
        self.children[index] = subprocess.Popen(self.command(index))
        print(f"supervisor: worker {index} on {self.devices[index]} started (pid {self.children[index].pid})",
              file=sys.stderr, flush=True)

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        for i in range(len(self.devices)):
            self.start(i)
        started = [time.monotonic()] * len(self.devices)
        while not self.stopping:
            for i, child in enumerate(self.children):
                if child is None or child.poll() is None:
                    continue
                lived = time.monotonic() - started[i]
                self.failures[i] = 0 if lived > 60 else self.failures[i] + 1
                delay = RESTART_DELAYS[min(self.failures[i], len(RESTART_DELAYS)) - 1] if self.failures[i] else 0
                print(f"supervisor: worker {i} on {self.devices[i]} exited ({child.returncode}); starting it "
                      f"again in {delay} s", file=sys.stderr, flush=True)
                self.children[i] = None
                if self._sleep(delay):
                    break
                self.start(i)
                started[i] = time.monotonic()
            self._sleep(0.5)
        return self._stop_children()

    def _sleep(self, seconds: float) -> bool:
        """Sleep, waking early when told to stop; True if stopping."""
        deadline = time.monotonic() + seconds
        while not self.stopping and time.monotonic() < deadline:
            time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
        return self.stopping

    def _stop(self, *_):
        self.stopping = True

    def _stop_children(self) -> int:
        alive = [c for c in self.children if c is not None and c.poll() is None]
        for child in alive:
            child.send_signal(signal.SIGTERM)  # each hands its job back at its next iteration
        deadline = time.monotonic() + self.grace_s
        for child in alive:
            try:
                child.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        return 0


def check(redis_url: str) -> int:
    """A container health check: Redis answers and a worker of this host is alive."""
    from .jobs.redis_store import connect, workers_alive

    host = socket.gethostname()
    try:
        mine = [w for w in workers_alive(connect(redis_url)) if w.get("host") == host]
    except Exception as exc:  # noqa: BLE001 — whatever keeps Redis from answering is the reason
        print(f"unhealthy: Redis at {redis_url} does not answer ({exc.__class__.__name__})", file=sys.stderr)
        return 1
    if not mine:
        print(f"unhealthy: no worker on {host} has announced itself recently", file=sys.stderr)
        return 1
    print(f"healthy: {len(mine)} worker(s) on {host}: {', '.join(sorted(w['device'] for w in mine))}")
    return 0


def main(argv: list[str] | None = None) -> int:
    try:
        config = Config.from_env()
    except ValueError as exc:  # a malformed limit stops the worker here, with its one line
        print(f"error: {exc}", file=sys.stderr)
        return 2
    p = argparse.ArgumentParser(prog="python -m styletransfer.worker", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    which = p.add_mutually_exclusive_group()
    which.add_argument("--device", default=None, help="one worker on this device: auto, cpu or cuda:N "
                       "(default: $STYLETRANSFER_DEVICE, else auto)")
    which.add_argument("--devices", default=None, help="one supervised worker process per device: all, "
                       "cuda:0,cuda:2 or cpu[:N]")
    which.add_argument("--check", action="store_true", help="health check: is a worker of this host alive?")
    p.add_argument("--redis", default=config.redis_url, help="default: $STUDIO_REDIS_URL")
    p.add_argument("--name", default=None, help="worker name (default: stylize-DEVICE@host)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for this worker (default: torch's)")
    p.add_argument("--loglevel", default="INFO")
    args = p.parse_args(argv)
    if not args.redis:
        print("error: give --redis redis://HOST:PORT/DB or set STUDIO_REDIS_URL", file=sys.stderr)
        return 2
    if args.check:
        return check(args.redis)
    import torch

    from .engine import pick_device

    try:
        if args.devices is not None:
            devices = parse_devices(args.devices, torch.cuda.device_count())
            return Supervisor(devices, args.redis, args.loglevel).run()
        device = str(pick_device(args.device or config.device))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.threads:
        torch.set_num_threads(max(1, args.threads))
    if device == "cpu":
        # a CPU worker often shares its machine with the web processes: it yields to them (its OpenMP
        # threads inherit the priority), as the embedded backend's worker thread does
        os.nice(10)
    from .jobs.celery_app import QUEUE_NAME
    from .jobs.worker_app import make_worker_app

    app = make_worker_app(args.redis, config.limits, device)
    name = args.name or f"stylize-{device.replace(':', '')}@%h"
    app.worker_main(["worker", "--pool=solo", "--concurrency=1", "--prefetch-multiplier=1", "-Q", QUEUE_NAME,
                     "--without-gossip", "--without-mingle", f"--loglevel={args.loglevel}", "-n", name])
    return 0


if __name__ == "__main__":
    sys.exit(main())
