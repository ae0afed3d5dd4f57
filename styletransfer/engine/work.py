"""How much work a run is: iterations and pixel-iterations at each image size, target passes included."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import torch

from ..images import long_side_size
from ..settings import Settings
from .hardware import pick_device, pick_precision
from .inputs import draft_scales, needed_side, run_plan, style_long_side

__all__ = ["FORWARD_SHARE", "RELATIVE_COST", "Work", "relative_cost", "scale_work", "work_of"]

FORWARD_SHARE = 1 / 3  # a forward pass, as a share of an iteration (forward + input-gradient backward)
# An iteration on a backbone, in VGG19 iterations (what the time model is calibrated on), on a CPU by precision:
# measured at 512 px by docs/backbone_speed.py. Other backbones, and every backbone on a GPU (not measured),
# count as VGG19; a job's correction of the model then carries the error.
RELATIVE_COST = {("efficientnet-lite0", "bf16"): 0.11, ("efficientnet-lite0", "fp32"): 0.06,
                 ("efficientnet-lite1", "bf16"): 0.14, ("efficientnet-lite1", "fp32"): 0.06}


def relative_cost(backbone: str, device: torch.device, precision: str) -> float:
    """An iteration's cost on ``backbone`` in VGG19 iterations, on ``device`` at ``precision``."""
    return RELATIVE_COST.get((backbone, precision), 1.0) if device.type == "cpu" else 1.0


@dataclass(frozen=True)
class Work:
    """Iteration-equivalents of a run, by size: ``by_pixels`` is ((pixels, iterations), ...)."""

    by_pixels: tuple[tuple[int, float], ...] = ()

    @classmethod
    def at(cls, pixels: int, iterations: float) -> "Work":
        return cls(((int(pixels), float(iterations)),))

    @property
    def iterations(self) -> float:
        return sum(n for _, n in self.by_pixels)

    @property
    def pixels(self) -> float:
        """Pixel-iterations: the size of the work, as the service's limits count it."""
        return sum(p * n for p, n in self.by_pixels)

    def __add__(self, other: "Work") -> "Work":
        merged = dict(self.by_pixels)
        for p, n in other.by_pixels:
            merged[p] = merged.get(p, 0.0) + n
        return Work(tuple(sorted(merged.items())))

    def __mul__(self, factor: float) -> "Work":
        return Work(tuple((p, n * factor) for p, n in self.by_pixels))


def scale_work(content_pixels: int, painting_pixels: Sequence[int]) -> tuple[Work, Work]:
    """(one iteration, the targets) at a scale: the targets are the photo's and each painting's forward."""
    targets = Work()
    for pixels in (content_pixels, *painting_pixels):
        targets = targets + Work.at(pixels, FORWARD_SHARE)
    return Work.at(content_pixels, 1), targets


def work_of(settings: Settings, content_wh: tuple[int, int], styles_wh: Sequence[tuple[int, int]] = ((1, 1),),
            tiles: Callable[[int, int], float | None] | None = None) -> Work:
    """The work of a run of ``settings`` (resolved) on a photo of ``content_wh`` and paintings of ``styles_wh``;
    ``tiles(height, width)``: a tiled iteration's work factor."""
    if settings.iterations is None or settings.coarse_factor is None or settings.draft_backbone is None:
        raise ValueError("work_of needs resolved settings: the iterations and the draft depend on the device")
    min_side = needed_side(settings)
    plan = run_plan(settings, content_wh, min_side)
    try:
        device = pick_device(settings.device)
        precision = pick_precision(device, settings.precision)
        drafted = draft_scales(settings, len(plan))
        costs = ([relative_cost(settings.draft_backbone, device, precision)] * drafted
                 + [relative_cost(settings.backbone, device, precision)] * (len(plan) - drafted))
    except ValueError:  # a device this process does not have (a pool's workers may): counted as VGG19
        costs = [1.0] * len(plan)
    total = Work()
    for (side, iterations), cost in zip(plan, costs):
        w, h = long_side_size(content_wh, side)
        paintings = []
        for wh in styles_wh:
            pw, ph = long_side_size(wh, style_long_side(settings, side, wh, min_side))
            paintings.append(pw * ph)
        step, targets = scale_work(w * h, paintings)
        factor = (tiles(h, w) or 1.0) if tiles else 1.0
        total = total + (targets + step * (iterations * factor)) * cost
    return total
