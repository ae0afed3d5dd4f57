"""Settings resolved once: what a run leaves open is filled in before it starts, and recorded."""
from __future__ import annotations

import dataclasses
import secrets

import torch

from ..settings import Settings
from .hardware import default_coarse_factor, default_iterations, pick_device

__all__ = ["resolve"]


def resolve(settings: Settings, device: str | torch.device | None = None) -> Settings:
    """``settings`` with a concrete seed and numbers of iterations (the defaults for ``device``, else for
    the device the settings ask for); the same object when nothing is left open. The record keeps the
    device the settings asked for ("auto"), so a result replays anywhere. Layer defaults stay the
    backbone's: written into the record, they would be wrong for a replay with another backbone."""
    fill = {}
    if settings.seed is None:
        fill["seed"] = secrets.randbelow(2**31)
    if settings.iterations is None or settings.coarse_factor is None:
        dev = pick_device(settings.device) if device is None else torch.device(device)
        if settings.iterations is None:
            fill["iterations"] = default_iterations(dev)
        if settings.coarse_factor is None:
            fill["coarse_factor"] = default_coarse_factor(dev)
    return dataclasses.replace(settings, **fill) if fill else settings
