"""The page's callbacks, by feature (uploads, client, run, poll, gallery): each module's ``register`` wires
one feature to ``jobs.Jobs`` and holds no state."""
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
