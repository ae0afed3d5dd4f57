"""The engine: gradient descent on the pixels of an image through a pretrained CNN, coarse to fine.

In named parts, each importing only those above it:

* ``hardware`` — which device and precision a run uses, and its default iterations;
* ``inputs`` — the coarse-to-fine plan, the painting's size per scale, the input-shape checks;
* ``objective`` — content + style + TV at one scale (the loss terms are ``losses.py``'s);
* ``tiles`` — the same objective computed tile by tile, for scales beyond the memory budget;
* ``memory`` — the memory budget: each scale's estimated peak, whole or in tiles;
* ``optim`` — the engine's own L-BFGS and Adam;
* ``resolve`` — the settings a run leaves open (seed, iterations), filled in once;
* ``work`` — how much work a run is (iterations, pixels × iterations), for estimates and budgets;
* ``eta`` — the running ETA, from the iterations timed so far and a time model;
* ``loop`` — :class:`Controls`, :class:`Progress`, :class:`Checkpoint` and :class:`StyleTransfer`;
* ``api`` — :func:`stylize`, the one-call API.

It imports nothing from the job layer or the web.
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
