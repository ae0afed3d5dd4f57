"""The engine: gradient descent on the pixels of an image through a pretrained CNN, coarse to fine.
Its parts, each importing only those above it, and nothing from the job layer or the web:

* ``hardware`` — device, precision, default iterations; ``inputs`` — the plan and the input checks;
* ``objective`` — content + style + TV at one scale; ``tiles`` — the same, tile by tile;
* ``memory`` — each scale's peak, whole or in tiles; ``optim`` — our L-BFGS and Adam;
* ``resolve`` — seed and iterations filled in once; ``work`` — how much work a run is; ``eta``;
* ``loop`` — :class:`Controls`, :class:`Progress`, :class:`StyleTransfer`; ``api`` — :func:`stylize`.
"""
from ..settings import Settings
from .api import stylize
from .hardware import autocast, cpu_has_fast_bf16, default_iterations, pick_device, pick_precision
from .inputs import (MIN_SOURCE_SIDE, ImageTooSmall, check_inputs, check_painting, check_photo, final_inputs,
                     painting_side, plan_scales, style_long_side)
from .loop import Checkpoint, Controls, Progress, StyleTransfer
from .objective import Objective
from .optim import LBFGS, make_optimizer
from .resolve import resolve

__all__ = ["Checkpoint", "Controls", "ImageTooSmall", "LBFGS", "MIN_SOURCE_SIDE", "Objective", "Progress", "Settings",
           "StyleTransfer", "autocast", "check_inputs", "check_painting", "check_photo", "cpu_has_fast_bf16",
           "default_iterations", "final_inputs", "make_optimizer", "painting_side", "pick_device", "pick_precision",
           "plan_scales", "resolve", "style_long_side", "stylize"]
