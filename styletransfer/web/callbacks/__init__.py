"""The page's callbacks, by feature; each module's ``register`` wires one feature and holds no state.

* ``uploads`` — the three uploads (decoded and checked next to the image) and the examples;
* ``client`` — what the browser computes itself (read-outs, the compare slider, scrolling into view);
* ``run`` — Start, Stop, live weights, Run again / Continue and the estimate before Start;
* ``poll`` — the running job drawn on the page (status, progress, preview, chart, downloads);
* ``gallery`` — the session's jobs: reopen one, cancel a queued one.
"""
from __future__ import annotations

from dataclasses import dataclass

from ...jobs import Jobs
from ...limits import Limits
from . import client, gallery, poll, run, uploads


@dataclass(frozen=True)
class Wiring:
    """What every callback needs: the job backend, the limits, and the folder of offered checkpoints."""

    jobs: Jobs
    limits: Limits
    models_dir: str | None = None


def register(app, jobs: Jobs, limits: Limits, models_dir: str | None = None) -> None:
    wiring = Wiring(jobs, limits, models_dir)
    for feature in (uploads, client, run, poll, gallery):
        feature.register(app, wiring)
