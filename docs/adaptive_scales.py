"""Measured and dropped (README, "Time to quality"): ending each coarse scale when its loss stops falling,
and averaging the final scale's iterates. Reproduces the README's figures:

    PYTHONPATH=. python docs/adaptive_scales.py            # this CPU's precision
    PYTHONPATH=. python docs/adaptive_scales.py fp32       # the AVX2 kind's stand-in
    PYTHONPATH=. python docs/adaptive_scales.py auto "default;adaptive 0.005"

Each variant runs on the quality tool's three pairs in this one process, measured by its yardstick
(``styletransfer.tools.quality``). Not part of the product: the engine runs fixed plans.
"""
import statistics
import sys

from styletransfer.engine import Settings
from styletransfer.examples import example_image
from styletransfer.tools.quality import PAIRS, Yardstick, _Planned, painted_after, photo, time_to_quality

DEFAULT = [(128, 45), (256, 45), (512, 25)]
CAPS = [(128, 90), (256, 90), (512, 25)]  # an adaptive coarse scale runs at most this many


class AdaptiveScales(_Planned):
    """A coarse scale ends once its weighted loss fell by less than ``tolerance`` per iteration, on average
    over the last ``window`` iterations (after at least ``least``); the final scale runs its plan."""

    def __init__(self, settings, plan, tolerance, window=5, least=8):
        super().__init__(settings, plan)
        self.tolerance, self.window, self.least = tolerance, window, least
        self.ends = []  # (side, iterations run) of each coarse scale

    def _iterate(self, scale, plan, total, done, start):
        totals, final = [], scale.index == len(plan)
        for progress in super()._iterate(scale, plan, total, done, start):
            totals.append(progress.losses["total"])
            yield progress
            if not final and len(totals) >= max(self.least, self.window + 1) and \
                    (totals[-1 - self.window] - totals[-1]) / totals[-1] < self.tolerance * self.window:
                break
        if not final:
            self.ends.append((scale.side, len(totals)))


class AveragedIterates(_Planned):
    """The final scale's image is the exponential moving average of its iterates (crowsonkb's EMA)."""

    def __init__(self, settings, plan, decay):
        super().__init__(settings, plan)
        self.decay = decay

    def _iterate(self, scale, plan, total, done, start):
        final, average = scale.index == len(plan), None
        for progress in super()._iterate(scale, plan, total, done, start):
            if final:
                x = scale.x.detach().float()
                average = x.clone() if average is None else average.mul_(self.decay).add_(x, alpha=1 - self.decay)
                if progress.image is not None:
                    progress.image = average.clamp(0, 1).cpu()
            yield progress
        if final and average is not None:
            scale.x.data.copy_(average)  # the run's result


def main(argv):
    precision = argv[1] if len(argv) > 1 else "auto"
    base = Settings(size=512, precision=precision, seed=0, device="cpu")
    variants = {
        "default": lambda: _Planned(base, DEFAULT),
        "adaptive 0.002": lambda: AdaptiveScales(base, CAPS, 0.002),
        "adaptive 0.005": lambda: AdaptiveScales(base, CAPS, 0.005),
        "adaptive 0.01": lambda: AdaptiveScales(base, CAPS, 0.01),
        "iterate average 0.5": lambda: AveragedIterates(base, DEFAULT, 0.5),
        "iterate average 0.8": lambda: AveragedIterates(base, DEFAULT, 0.8),
    }
    chosen = argv[2].split(";") if len(argv) > 2 else list(variants)
    finals = {name: [] for name in chosen}
    for pair, (photo_name, painting_name) in PAIRS.items():
        content, style = photo(photo_name), example_image(painting_name)
        yardstick = Yardstick(content, style, base)
        for name in chosen:
            run = variants[name]()
            rows, _ = time_to_quality(base, None, content, style, yardstick, 5, run=run)
            seconds, iterations, c, s = rows[-1]
            finals[name].append((seconds, c, s))
            print(f"{pair:18} {name:20} {seconds:6.1f} s {iterations:4d} it  content {c:.3f}  style {s:.3f}  "
                  f"painted after {painted_after(rows)} s  coarse scales ran {getattr(run, 'ends', '')}", flush=True)
    reference = [statistics.mean(f[i] for f in finals[chosen[0]]) for i in range(3)]
    print("\n| variant | seconds | × the first | content | style | content / first | style / first |")
    print("|---|---|---|---|---|---|---|")
    for name in chosen:
        t, c, s = (statistics.mean(f[i] for f in finals[name]) for i in range(3))
        print(f"| {name} | {t:.1f} | {t / reference[0]:.2f} | {c:.3f} | {s:.3f} | {c / reference[1]:.3f} | "
              f"{s / reference[2]:.3f} |")


if __name__ == "__main__":
    main(sys.argv)
