"""The running ETA: seconds left in a run, from the iterations timed so far and a time model."""
from __future__ import annotations

import statistics
from typing import Callable, Sequence


class RunningEta:
    """Seconds left: this scale's iterations left at its steady time — the median of its iterations after
    the first, whose time is allocation and kernel choice — and the scales to come at the time model's
    ``iteration_cost(pixels)``, scaled by how this scale's steady time compares with the model's (a busy
    machine slows them all). Before a scale has a steady iteration its time is the model's, at the last
    scale's ratio. Without a model (``iteration_cost`` None) an iteration's time is taken in proportion to
    its pixels, and the very first iteration's time stands in until there is a steady one."""

    def __init__(self, iteration_cost: Callable[[float], float] | None = None):
        self.cost = iteration_cost or (lambda pixels: pixels)
        self.ratio: float | None = 1.0 if iteration_cost else None  # seconds per unit of the model
        self._pixels = 0.0
        self._times: list[float] = []

    def start_scale(self, pixels: float) -> None:
        self._pixels, self._times = float(pixels), []

    def seconds_left(self, iteration_seconds: float, left_here: int,
                     later: Sequence[tuple[float, float]]) -> float:
        """After an iteration of ``iteration_seconds``, with ``left_here`` iterations left at this scale and
        ``later`` ((pixels, iterations), ...) to come."""
        self._times.append(iteration_seconds)
        here = self.cost(self._pixels)
        if len(self._times) > 1:
            self.ratio = statistics.median(self._times[1:]) / here
        ratio = self.ratio if self.ratio is not None else iteration_seconds / here
        return ratio * (left_here * here + sum(n * self.cost(p) for p, n in later))
