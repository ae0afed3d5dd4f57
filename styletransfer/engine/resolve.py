"""Settings resolved once: what a run leaves open is filled in before it starts, and recorded."""
from __future__ import annotations

import dataclasses
import secrets

import torch

from ..settings import Settings
from .hardware import default_coarse_factor, default_draft_backbone, default_iterations, pick_device

__all__ = ["resolve"]


def resolve(settings: Settings, device: str | torch.device | None = None) -> Settings:
    """``settings`` with a concrete seed, iterations and draft (the defaults for ``device``); the same object
    if none is open."""
    fill = {}
    if settings.seed is None:
        fill["seed"] = secrets.randbelow(2**31)
    if settings.iterations is None or settings.coarse_factor is None or settings.draft_backbone is None:
        dev = pick_device(settings.device) if device is None else torch.device(device)
        if settings.iterations is None:
            fill["iterations"] = default_iterations(dev)
        if settings.coarse_factor is None:
            fill["coarse_factor"] = default_coarse_factor(dev)
        if settings.draft_backbone is None:
            fill["draft_backbone"] = default_draft_backbone(dev, settings.backbone)
    return dataclasses.replace(settings, **fill) if fill else settings
