"""How long a job takes here: seconds = a × iterations + b × pixel-iterations (:class:`~styletransfer.engine.
work.Work`), calibrated once at two sizes and corrected by every job that ends, by what it did."""
from __future__ import annotations

import json
from typing import Callable

from ..engine import Settings, StyleTransfer
from ..engine.work import Work, work_of
from ..examples import example_image

CALIBRATION_SIDES = (256, 512)  # the default size and its coarser scale: on a CPU an iteration's cost per
# pixel is not constant (least near 512 px, more below and above), so the line is drawn where the time goes
CALIBRATION_ITERATIONS = 4      # the first is not timed: it pays for allocation and kernel choice
LEARNING_RATE = 0.3             # the weight of the latest job in the correction


class SpeedMeter:
    """The time model of this backend's devices, for the estimate before Start."""

    def __init__(self, per_iteration: float | None = None, per_pixel: float | None = None):
        self.per_iteration = per_iteration  # seconds per iteration, whatever its size
        self.per_pixel = per_pixel          # seconds per pixel-iteration

    @property
    def known(self) -> bool:
        return self.per_pixel is not None

    def predict(self, work: Work) -> float | None:
        return None if not self.known else self.per_iteration * work.iterations + self.per_pixel * work.pixels

    def calibrate(self, samples: list[tuple[float, Work]]) -> "SpeedMeter":
        """Fit both coefficients to (seconds, work) samples of different sizes (a line through two points;
        a negative fixed part, which noise can make, is taken as none)."""
        (t1, w1), (t2, w2) = samples[0], samples[-1]
        det = w1.iterations * w2.pixels - w2.iterations * w1.pixels
        a = (t1 * w2.pixels - t2 * w1.pixels) / det if det else -1.0
        if a < 0:
            a, b = 0.0, sum(t for t, _ in samples) / sum(w.pixels for _, w in samples)
        else:
            b = (w1.iterations * t2 - w2.iterations * t1) / det
        self.per_iteration, self.per_pixel = a, b
        return self

    def observe(self, seconds: float, work: Work) -> "SpeedMeter":
        """Correct the model by a job's time for the work it did (a stopped job counts what it ran)."""
        if seconds <= 0 or work.pixels <= 0:
            return self
        if not self.known:  # no calibration: the job's own rate, as if all of it grew with the pixels
            self.per_iteration, self.per_pixel = 0.0, seconds / work.pixels
            return self
        predicted = self.predict(work)
        if predicted:
            factor = 1 + LEARNING_RATE * (seconds / predicted - 1)
            self.per_iteration *= factor
            self.per_pixel *= factor
        return self

    def estimate(self, settings: Settings, content_wh: tuple[int, int] | None = None,
                 styles_wh: list[tuple[int, int]] | None = None) -> float | None:
        """Seconds the job would take here (a 4:3 photo and one 4:3 painting when not known), or None
        before any measurement."""
        if not self.known:
            return None
        return self.predict(work_of(settings, content_wh or (4, 3), styles_wh or [(4, 3)]))

    def to_json(self) -> str:
        return json.dumps({"per_iteration": self.per_iteration, "per_pixel": self.per_pixel})

    @classmethod
    def from_json(cls, raw: str | bytes | None) -> "SpeedMeter":
        try:
            values = json.loads(raw) if raw else None
            return cls(float(values["per_iteration"]), float(values["per_pixel"]))
        except (TypeError, KeyError, ValueError):  # none yet, or an older release's single number
            return cls()


def calibrate(device: str, stop: Callable[[], bool] = lambda: False) -> SpeedMeter | None:
    """The model of ``device`` from a few iterations of a one-scale run at each calibration size, weights
    loaded first; None if ``stop()`` turned true on the way (the process is ending)."""
    photo, painting = example_image("hopper"), example_image("swirls")
    samples = []
    for side in CALIBRATION_SIDES:
        run = StyleTransfer(Settings(size=side, iterations=CALIBRATION_ITERATIONS, multiscale=False, seed=0,
                                     device=device, frame_every=10**9))
        for _ in run.run(photo, [painting]):
            if stop():
                return None
        timed = run.iteration_seconds[1:]
        w, h = run.result.size
        samples.append((sum(timed), Work(len(timed), len(timed) * w * h)))
    return SpeedMeter().calibrate(samples)
