"""The watchdog in every worker and web process: lost jobs queued again, a worker's presence announced."""
from __future__ import annotations

import logging
import os
import socket
import threading
import time

from ..limits import Limits
from .model import FAILED
from .redis_store import adopt_orphans, announce_worker, recover_lost
from .stats import RedisStats

log = logging.getLogger(__name__)


class Watchdog(threading.Thread):
    """Queues again the jobs whose worker was lost (``recover_lost``); in every worker and web process."""

    def __init__(self, r, limits: Limits, send_fn, presence: str | None = None):
        super().__init__(name="job-watchdog", daemon=True)
        self.r, self.limits, self.send_fn = r, limits, send_fn
        self.presence = presence  # a worker's device: announced every round (a web process has none)
        self.done = threading.Event()

    def run(self) -> None:
        interval = max(0.5, self.limits.worker_lost_s / 4)
        # after Redis was away, every running job's heartbeat is old: their workers get worker_lost_s to beat
        # again (and take back an expired lease) before any is called lost
        grace_until = 0.0
        rounds = 0
        while True:
            try:
                if self.presence:
                    announce_worker(self.r, socket.gethostname(), os.getpid(), self.presence, 3 * interval)
                if time.time() < grace_until:
                    lost = []
                else:
                    if rounds % 4 == 0:  # a scan of every job: once per worker_lost_s is enough
                        for job_id in adopt_orphans(self.r):
                            log.warning("job %s was running in no list with no worker: recovering it", job_id)
                    rounds += 1
                    lost = recover_lost(self.r, self.limits.worker_lost_s, self.send_fn)
                for job_id, attempt in lost:
                    log.warning("job %s: worker lost; %s", job_id,
                                "failed (lost twice)" if attempt < 0 else f"queued again as attempt {attempt}")
                    if attempt < 0:
                        RedisStats(self.r).job_finished(FAILED, "unknown", 0, 0.0, 0)
            except Exception as exc:  # noqa: BLE001 — Redis away for a moment: look again next round
                (log.info if time.time() < grace_until else log.warning)("watchdog round failed: %r", exc)
                grace_until = time.time() + self.limits.worker_lost_s + interval
            if self.done.wait(interval):
                return

    def stop(self) -> None:
        self.done.set()
        if self.is_alive():
            self.join()
