"""What an operator watches, counted where it happens (in this process or in Redis); ``/metrics`` exports it."""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field

# upper bounds of the histogram buckets (+Inf is implied)
BUCKETS = {
    "job_duration_seconds": (5, 15, 30, 60, 120, 300, 600, 1200, 3600),
    "seconds_per_iteration": (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5),
}
SIZE_CLASSES = (256, 512, 1024, 2048, 4096)


def size_class(size: int) -> str:
    """Sizes grouped so that a histogram's labels stay few: the smallest class that holds ``size``."""
    return str(next((c for c in SIZE_CLASSES if size <= c), SIZE_CLASSES[-1]))


@dataclass
class Snapshot:
    """Counters {(name, labels): value} and histograms {(name, labels): (bucket counts, sum, count)};
    labels are sorted (key, value) tuples."""

    counters: dict = field(default_factory=dict)
    histograms: dict = field(default_factory=dict)


def _key(name: str, labels: dict) -> str:
    return json.dumps([name, sorted(labels.items())], separators=(",", ":"))


def _split(key: str) -> tuple[str, tuple]:
    name, labels = json.loads(key)
    return name, tuple((k, v) for k, v in labels)


class Stats:
    """The operator's counters, kept by the job store; histograms as counters: ``name`` gets one counter per
    bucket, a sum and a count."""

    def _add(self, key: str, amount: float) -> None:
        raise NotImplementedError

    def snapshot(self) -> "Snapshot":
        raise NotImplementedError

    def count(self, name: str, amount: float = 1, **labels) -> None:
        self._add(_key(name, labels), amount)

    def observe(self, name: str, value: float, **labels) -> None:
        bucket = next((i for i, bound in enumerate(BUCKETS[name]) if value <= bound), len(BUCKETS[name]))
        self._add(_key(f"{name}#bucket{bucket}", labels), 1)
        self._add(_key(f"{name}#sum", labels), value)
        self._add(_key(f"{name}#count", labels), 1)

    def job_finished(self, outcome: str, device: str, size: int, seconds: float, iterations: int) -> None:
        self.count("jobs_finished_total", outcome=outcome)
        if outcome == "done" and iterations:
            labels = {"device": device or "unknown", "size": size_class(size)}
            self.observe("job_duration_seconds", seconds, **labels)
            self.observe("seconds_per_iteration", seconds / iterations, **labels)

    @staticmethod
    def _snapshot(raw: dict) -> Snapshot:
        snap, parts = Snapshot(), {}
        for key, value in raw.items():
            name, labels = _split(key)
            if "#" in name:
                base, part = name.split("#")
                parts.setdefault((base, labels), {})[part] = value
            else:
                snap.counters[(name, labels)] = value
        for (base, labels), p in parts.items():
            buckets = [int(p.get(f"bucket{i}", 0)) for i in range(len(BUCKETS[base]) + 1)]
            snap.histograms[(base, labels)] = (buckets, float(p.get("sum", 0)), int(p.get("count", 0)))
        return snap


class MemoryStats(Stats):
    """The embedded backend's numbers, in this process."""

    def __init__(self):
        self._lock = threading.Lock()
        self._values: dict[str, float] = {}

    def _add(self, key: str, amount: float) -> None:
        with self._lock:
            self._values[key] = self._values.get(key, 0) + amount

    def snapshot(self) -> Snapshot:
        with self._lock:
            return self._snapshot(dict(self._values))


class RedisStats(Stats):
    """The Redis backend's numbers, in one hash that every web process and worker adds to."""

    KEY = "st:stats"

    def __init__(self, r):
        self.r = r

    def _add(self, key: str, amount: float) -> None:
        if float(amount).is_integer():
            self.r.hincrby(self.KEY, key, int(amount))
        else:
            self.r.hincrbyfloat(self.KEY, key, amount)

    def snapshot(self) -> Snapshot:
        return self._snapshot({k.decode(): float(v) for k, v in self.r.hgetall(self.KEY).items()})
