"""What an operator's tools ask the web process: ``/healthz``, ``/readyz`` (503 with the reasons) and
``/metrics`` in Prometheus' text format."""
from __future__ import annotations

import time

import flask
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from ..jobs import Jobs
from ..jobs.stats import BUCKETS
from .routes import no_store

PREFIX = "studio_"
# one set per process; in multiprocess mode their values live in files and are summed at scrape time
REQUEST_SECONDS = Histogram(f"{PREFIX}request_duration_seconds", "Time to answer a request, by route", ["route"],
                            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
BACKEND_ERRORS = Counter(f"{PREFIX}backend_errors_total", "Requests that failed because the job backend "
                         "(Redis) did not answer")

HELP = {
    "jobs_submitted_total": "Jobs admitted to the queue",
    "jobs_finished_total": "Jobs that ended, by outcome (done, stopped, failed)",
    "job_duration_seconds": "Wall time of finished jobs, by device and size class",
    "seconds_per_iteration": "Mean seconds per iteration of finished jobs, by device and size class",
}


class JobCollector:
    """The job backend's numbers, read at scrape time."""

    def __init__(self, jobs: Jobs):
        self.jobs = jobs

    def collect(self):
        snap, now = self.jobs.stats(), self.jobs.load()
        counters: dict[str, CounterMetricFamily] = {}
        for (name, labels), value in sorted(snap.counters.items()):
            family = counters.get(name)
            if family is None:
                family = counters[name] = CounterMetricFamily(PREFIX + name.removesuffix("_total"), HELP.get(name, name),
                                                              labels=[k for k, _ in labels])
            family.add_metric([v for _, v in labels], value)
        yield from counters.values()
        histograms: dict[str, HistogramMetricFamily] = {}
        for (name, labels), (buckets, total, _count) in sorted(snap.histograms.items()):
            family = histograms.get(name)
            if family is None:
                family = histograms[name] = HistogramMetricFamily(PREFIX + name, HELP.get(name, name),
                                                                  labels=[k for k, _ in labels])
            cumulative, running = [], 0
            for bound, n in zip([*map(str, BUCKETS[name]), "+Inf"], buckets):
                running += n
                cumulative.append((bound, running))
            family.add_metric([v for _, v in labels], cumulative, total)
        yield from histograms.values()
        yield GaugeMetricFamily(f"{PREFIX}queue_depth", "Jobs waiting to start", value=now["queued"])
        yield GaugeMetricFamily(f"{PREFIX}jobs_running", "Jobs running now", value=now["running"])
        alive = GaugeMetricFamily(f"{PREFIX}workers_alive", "Workers whose heartbeat is fresh, by device",
                                  labels=["device"])
        for device, n in sorted(now["workers"].items()):
            alive.add_metric([device], n)
        yield alive


def _route() -> str:
    rule = flask.request.url_rule
    return rule.rule if rule is not None else "(no route)"


def register(server: flask.Flask, jobs: Jobs, metrics_dir: str | None) -> None:
    collector = JobCollector(jobs)

    @server.before_request
    def start_timer():
        flask.g.request_started = time.perf_counter()

    @server.after_request
    def record_latency(response):
        started = getattr(flask.g, "request_started", None)
        if started is not None:
            REQUEST_SECONDS.labels(_route()).observe(time.perf_counter() - started)
        return response

    @server.route("/healthz")
    def healthz():
        return no_store(flask.jsonify({"status": "ok"}))

    @server.route("/readyz")
    def readyz():
        missing = jobs.not_ready()
        if missing:
            return no_store(flask.jsonify({"status": "not ready", "reasons": missing})), 503
        return no_store(flask.jsonify({"status": "ready"}))

    @server.route("/metrics")
    def metrics():
        registry = CollectorRegistry()
        if metrics_dir:
            multiprocess.MultiProcessCollector(registry, path=metrics_dir)
        else:
            registry.register(_ThisProcess())
        registry.register(collector)
        return flask.Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST,
                              headers={"Cache-Control": "no-store"})


class _ThisProcess:
    """This process's own request metrics, when it is the only one (``python app.py``)."""

    def collect(self):
        yield from REQUEST_SECONDS.collect()
        yield from BACKEND_ERRORS.collect()
