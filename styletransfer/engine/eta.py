"""The running ETA: seconds left in a run, from the iterations timed so far and a time model."""
from __future__ import annotations

import statistics
from typing import Callable, Sequence


LATER_RATIO = (0.5, 2.0)  # how far a scale's pace may move the model's seconds for the scales to come


class RunningEta:
    """Seconds left: this scale at its steady pace (median after the first iteration), the scales to come at
    the model's ``iteration_cost(pixels)`` scaled by that pace (at most :data:`LATER_RATIO`)."""

    def __init__(self, iteration_cost: Callable[[float], float] | None = None):
        self.cost = iteration_cost or (lambda pixels: pixels)
        self.known_model = iteration_cost is not None
        self.ratio: float | None = 1.0 if self.known_model else None  # seconds per unit of the model
        self._pixels = 0.0
        self._cost = 1.0
        self._times: list[float] = []

    def start_scale(self, pixels: float, cost: float = 1.0) -> None:  # cost: its network's, in model units
        self._pixels, self._cost, self._times = float(pixels), cost, []

    def seconds_left(self, iteration_seconds: float, left_here: int,
                     later: Sequence[tuple[float, float]]) -> float:
        """After an iteration of ``iteration_seconds``, ``left_here`` left at this scale and ``later`` to come."""
        self._times.append(iteration_seconds)
        here = self._cost * self.cost(self._pixels)
        steady = len(self._times) > 1
        if steady:
            self.ratio = statistics.median(self._times[1:]) / here
        ratio = self.ratio if self.ratio is not None else iteration_seconds / here
        later_ratio = min(max(ratio, LATER_RATIO[0]), LATER_RATIO[1]) if self.known_model else ratio
        # until this scale has a steady iteration, it is one of the scales to come for the last one's pace
        here_ratio = ratio if steady or not self.known_model else later_ratio
        return here_ratio * left_here * here + later_ratio * sum(n * self.cost(p) for p, n in later)
