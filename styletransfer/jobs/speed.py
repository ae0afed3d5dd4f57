"""How long a job takes here: seconds per unit of work, calibrated once and learnt from finished jobs."""
from __future__ import annotations

import dataclasses
from typing import Callable

from ..engine import StyleTransfer
from ..examples import example_image
from ..settings import Settings
from .admission import work_of


class SpeedMeter:
    """Seconds per unit of work (:func:`work_of`) on this backend's devices, for the page's estimate before
    Start: measured once by a small calibration run when a worker starts, then from every finished job."""

    def __init__(self, value: float | None = None):
        self.value = value

    def observe(self, seconds: float, work: float) -> float | None:
        if seconds > 0 and work > 0:
            sample = seconds / work
            self.value = sample if self.value is None else 0.7 * self.value + 0.3 * sample
        return self.value

    def estimate(self, settings: Settings, content_wh: tuple[int, int] | None = None) -> float | None:
        """Seconds the job would take here (a 4:3 photo when its size is not known), or None before any
        measurement."""
        return None if self.value is None else self.value * work_of(settings, content_wh or (4, 3))


def calibrate(device: str, stop: Callable[[], bool] = lambda: False) -> tuple[float, float] | None:
    """(seconds, work) of a few iterations of a small one-scale run on ``device``, weights loaded first;
    None if ``stop()`` turned true on the way (the process is ending)."""
    settings = Settings(size=192, iterations=4, multiscale=False, seed=0, device=device, frame_every=10**9)
    run = StyleTransfer(settings)
    photo = example_image("hopper")
    for _ in run.run(photo, [example_image("swirls")]):
        if stop():
            return None
    measured = settings.iterations - 1  # the first iteration pays for allocation and kernel choice
    return sum(run.iteration_seconds[1:]), work_of(dataclasses.replace(settings, iterations=measured), photo.size)

