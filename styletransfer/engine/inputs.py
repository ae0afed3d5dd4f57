"""The coarse-to-fine plan, the painting's size per scale, and the checks that refuse unusable inputs early."""
from __future__ import annotations

import math
from typing import Sequence

from PIL import Image

from .. import images
from ..backbones import min_input_side
from ..settings import SettingError, Settings

__all__ = ["MIN_SOURCE_SIDE", "ImageTooSmall", "check_inputs", "check_painting", "check_photo", "draft_scales",
           "final_inputs", "needed_side", "painting_side", "plan_scales", "run_plan", "style_long_side"]

MIN_SOURCE_SIDE = 32  # px: below this an input holds too little to paint from or with


class ImageTooSmall(SettingError):
    """An input whose shape cannot be used at the requested size; ``str()`` says the numbers and what to do."""


def plan_scales(size: int, iterations: int, multiscale: bool = True, min_size: int = 128,
                aspect: float = 1.0, min_side: int = 1, coarse_factor: float = 0.0) -> list[tuple[int, int]]:
    """[(long side, iterations), ...] coarse to fine for short/long ratio ``aspect``: sides halve from ``size``
    down to ``min_size`` and ``min_side``; ``coarse_factor`` × ``iterations`` each (0: doubling)."""
    floor = max(min_size, math.ceil(min_side / aspect))
    if not multiscale or size < 2 * floor:
        return [(size, iterations)]
    n = int(math.floor(math.log2(size / floor))) + 1

    def at(k: int) -> int:
        if k == 0:
            return iterations
        return max(1, round(iterations * coarse_factor)) if coarse_factor else iterations * 2 ** k

    return [(round(size / 2 ** k), at(k)) for k in reversed(range(n))]


def run_plan(settings: Settings, content_wh: tuple[int, int], min_side: int | None = None) -> list[tuple[int, int]]:
    """The plan of ``settings`` (resolved) for a photo of ``content_wh``; ``min_side`` as the backbone needs."""
    return plan_scales(settings.size, settings.iterations, settings.multiscale, settings.min_size,
                       aspect=min(content_wh) / max(content_wh),
                       min_side=needed_side(settings) if min_side is None else min_side,
                       coarse_factor=settings.coarse_factor)


def painting_side(settings: Settings, side: int | None = None) -> int:
    """The painting's long side at a scale whose long side is ``side`` (default: the final size)."""
    return max(16, round((settings.size if side is None else side) * settings.style_scale))


def _short_side(wh: tuple[int, int], long_side: int) -> int:
    """The short side after :func:`images.resize_long_side` to ``long_side`` (same rounding)."""
    return max(1, round(min(wh) * long_side / max(wh)))


def style_long_side(settings: Settings, side: int, style_wh: tuple[int, int], min_side: int) -> int:
    """:func:`painting_side` at long side ``side``, enlarged where the backbone needs it."""
    long_side = painting_side(settings, side)
    if _short_side(style_wh, long_side) < min_side:
        long_side = math.ceil(min_side * max(style_wh) / min(style_wh))
    return long_side


def needed_side(settings: Settings) -> int:
    """The smallest input side the backbone's deepest layer in use needs (and the draft's, if any)."""
    layers = tuple(settings.content_layers or ()) + tuple(settings.style_layers or ())
    need = min_input_side(settings.backbone, layers or None, settings.backbone_arch)
    if settings.draft_backbone not in (None, "none"):
        need = max(need, min_input_side(settings.draft_backbone))
    return need


def draft_scales(settings: Settings, scales: int) -> int:
    """How many of ``scales`` scales the draft paints: the coarse ones (the backbone paints the last)."""
    if settings.draft_backbone is None:
        raise ValueError("draft_scales needs resolved settings: the draft depends on the device")
    return 0 if settings.draft_backbone == "none" else scales - 1


def _check_source(wh: tuple[int, int], name: str) -> None:
    if min(wh) < MIN_SOURCE_SIDE:
        raise ImageTooSmall(f"{name}: {wh[0]}×{wh[1]} px is too small to work with (at least {MIN_SOURCE_SIDE} "
                            f"px a side); use a larger image")


def check_photo(settings: Settings, wh: tuple[int, int], name: str = "photo", source: bool = True) -> None:
    """:class:`ImageTooSmall` unless the photo at ``settings.size`` is large enough for the backbone."""
    if source:
        _check_source(wh, name)
    need, short = needed_side(settings), _short_side(wh, settings.size)
    if short < need:
        wanted = math.ceil(need * max(wh) / min(wh))
        what = f"choose a size of at least {wanted} px or crop it" if wanted <= 8192 else "crop it"
        raise ImageTooSmall(
            f"{name}: {wh[0]}×{wh[1]} px is too narrow: at {settings.size} px its short side would be {short} px, "
            f"and {settings.backbone} needs at least {need} px; {what} to a less elongated shape")


def check_painting(settings: Settings, wh: tuple[int, int], name: str = "painting", source: bool = True) -> None:
    """:class:`ImageTooSmall` unless the painting's short side at the final scale is what the backbone needs."""
    if source:
        _check_source(wh, name)
    long_side = painting_side(settings)
    need, short = needed_side(settings), _short_side(wh, long_side)
    if short < need:
        raise ImageTooSmall(
            f"{name}: {wh[0]}×{wh[1]} px is too narrow: at {long_side} px its short side would be {short} px, "
            f"and {settings.backbone} needs at least {need} px; crop it to a less elongated shape")


def check_inputs(settings: Settings, content_wh: tuple[int, int], styles_wh: Sequence[tuple[int, int]] = (),
                 content_name: str = "photo", style_names: Sequence[str] | None = None, sources: bool = True) -> None:
    """Refuse before any work, with :class:`ImageTooSmall` saying what to do, inputs the run cannot use."""
    check_photo(settings, content_wh, content_name, sources)
    names = list(style_names or [f"painting {i + 1}" if len(styles_wh) > 1 else "painting"
                                 for i in range(len(styles_wh))])
    for name, wh in zip(names, styles_wh):
        check_painting(settings, wh, name, sources)


def final_inputs(settings: Settings, content: Image.Image, styles: Sequence[Image.Image]):
    """The photo at the result's size and each painting at :func:`painting_side`: all a job keeps."""
    return (images.resize_long_side(content, settings.size),
            [images.resize_long_side(st, painting_side(settings)) for st in styles])
