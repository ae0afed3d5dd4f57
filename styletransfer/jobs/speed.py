"""The time model: seconds per iteration as a function of pixels, calibrated and corrected by every job."""
from __future__ import annotations

import json
import logging
import statistics
from bisect import bisect_left
from typing import Callable, Iterator, Sequence

from ..engine import Controls, Settings, StyleTransfer
from ..engine.memory import DeviceMemory
from ..engine.work import Work, work_of
from ..examples import example_image

# the default size and its coarser scale, then the default plan's smallest and the largest a server allows by
# default: an iteration's cost per pixel is not constant (a fixed part weighs at 128 px, and on a CPU up to
# 1.6× more per pixel at 1024 px), so it is measured at every size the default plan runs. The first iteration
# of each is not timed (allocation, kernel choice) and the median of the others is kept. A model is handed on
# once 256 and 512 px are measured; they are measured once more at the end and the faster of the two kept: a
# browser loading the page beside the first pass (a person who just started the server) slowed it by a third.
CALIBRATION = ((256, 4), (512, 4), (128, 8), (1024, 3))  # (long side, iterations)
FIRST_MODEL = 2  # the calibration sizes measured before the first model: 256 and 512 px
LEARNING_RATE = 0.3  # the weight of the latest job in the correction


class SpeedMeter:
    """The time model of this backend's devices: ``points`` are (pixels, seconds per iteration)."""

    def __init__(self, points: Sequence[tuple[float, float]] = (), memory: DeviceMemory | None = None):
        self.points = sorted((float(p), float(s)) for p, s in points)
        self.memory = memory  # what the measured device's memory budget can paint (None: not known)

    @property
    def known(self) -> bool:
        return bool(self.points)

    def seconds_per_iteration(self, pixels: float) -> float:
        """Straight segments between the measured sizes, the nearest drawn on beyond them."""
        pts = self.points
        if len(pts) == 1:
            return pts[0][1] * pixels / pts[0][0]
        i = min(max(bisect_left([p for p, _ in pts], pixels), 1), len(pts) - 1)
        (p1, s1), (p2, s2) = pts[i - 1], pts[i]
        line = s1 + (s2 - s1) * (pixels - p1) / (p2 - p1)
        if pixels < pts[0][0]:
            return min(max(line, s1 * pixels / p1), s1)
        if pixels > pts[-1][0]:
            return max(line, s2)
        return line

    @property
    def iteration_cost(self) -> Callable[[float], float] | None:
        """For the engine's running ETA (:class:`~styletransfer.engine.StyleTransfer`), once measured."""
        return self.seconds_per_iteration if self.known else None

    def predict(self, work: Work) -> float | None:
        if not self.known:
            return None
        return sum(n * self.seconds_per_iteration(p) for p, n in work.by_pixels)

    def observe(self, seconds: float, work: Work) -> "SpeedMeter":
        """Correct the model by a job's time for the work it did (a stopped job counts what it ran)."""
        if seconds <= 0 or work.pixels <= 0:
            return self
        if not self.known:  # no calibration: the job's own rate, as if all of it grew with the pixels
            self.points = [(work.pixels / work.iterations, seconds / work.iterations)]
            return self
        predicted = self.predict(work)
        if predicted:
            factor = 1 + LEARNING_RATE * (seconds / predicted - 1)
            self.points = [(p, s * factor) for p, s in self.points]
        return self

    def estimate(self, settings: Settings, content_wh: tuple[int, int] | None = None,
                 styles_wh: list[tuple[int, int]] | None = None) -> float | None:
        """Seconds the job would take here (4:3 images when not known), tiles counted, or None before any measurement."""
        if not self.known:
            return None
        tiles = self.memory.work_factor if self.memory else None
        return self.predict(work_of(settings, content_wh or (4, 3), styles_wh or [(4, 3)], tiles))

    def can_paint(self, height: int, width: int) -> bool:
        """Whether the device's budget holds a scale of this size (True when not known)."""
        return self.memory is None or self.memory.work_factor(height, width) is not None

    def to_json(self) -> str:
        return json.dumps({"points": self.points, "memory": self.memory.to_dict() if self.memory else None})

    @classmethod
    def from_json(cls, raw: str | bytes | None) -> "SpeedMeter":
        try:
            values = json.loads(raw) if raw else None
            points = [(float(p), float(s)) for p, s in values["points"]]
        except (TypeError, KeyError, ValueError):  # none yet, or an older release's model: measured anew
            return cls()
        try:
            memory = DeviceMemory.from_dict(values["memory"])
        except (TypeError, KeyError, ValueError):  # a model from before the memory was told
            memory = None
        return cls(points, memory)


class _StopWhen(Controls):
    """Controls that read as stopped once ``when()`` is true."""

    def __init__(self, when: Callable[[], bool]):
        super().__init__()
        self._when = when

    @property
    def stopped(self) -> bool:
        return self._when() or super().stopped


def calibration(device: str, stop: Callable[[], bool] = lambda: False, max_side: int | None = None,
                precision: str = "auto") -> Iterator[SpeedMeter]:
    """Ever better models of ``device`` from one-scale runs up to ``max_side``; ends once ``stop()`` is true."""
    photo, painting = example_image("hopper"), example_image("swirls")
    sizes = [(side, n) for k, (side, n) in enumerate(CALIBRATION) if k < FIRST_MODEL or max_side is None
             or side <= max_side]
    measured: dict[int, float] = {}  # pixels -> seconds per iteration
    memory = None
    for side, iterations in sizes + sizes[:FIRST_MODEL]:
        run = StyleTransfer(Settings(size=side, iterations=iterations, multiscale=False, seed=0, device=device,
                                     precision=precision, frame_every=10**9), _StopWhen(stop))
        for _ in run.run(photo, [painting]):
            pass
        if run.stopped:
            return
        w, h = run.result.size
        measured[w * h] = min(statistics.median(run.iteration_seconds[1:]), measured.get(w * h, float("inf")))
        memory = memory or DeviceMemory.of(run.budget)  # the budget a job here would have: its first run's
        if len(measured) >= FIRST_MODEL:
            yield SpeedMeter(measured.items(), memory)


def calibrate_into(device: str, keep: Callable[[SpeedMeter, SpeedMeter | None], bool],
                   stop: Callable[[], bool], max_side: int | None) -> None:
    """Measure ``device``, each model handed to ``keep(model, ours)`` until it returns False; failures logged."""
    ours = None
    try:
        for meter in calibration(device, stop=stop, max_side=max_side):
            if not keep(meter, ours):
                return
            ours = meter
    except Exception:  # noqa: BLE001 — the log says why; the page shows no estimate until a job ends
        logging.getLogger(__name__).exception("speed calibration on %s failed", device)


def calibrate(device: str, stop: Callable[[], bool] = lambda: False, max_side: int | None = None,
              precision: str = "auto") -> SpeedMeter | None:
    """The best model :func:`calibration` got to before ``stop()``; None if it got none."""
    meter = None
    for meter in calibration(device, stop, max_side, precision):
        pass
    return meter
