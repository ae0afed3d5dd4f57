"""What every training run shares: data errors, atomic checkpoints and resume, the schedule, precision, CSV."""
from __future__ import annotations

import csv
import functools
import math
import os

import torch

from ..engine.hardware import autocast

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif")


class DataError(ValueError):
    """The data folder is not usable; ``str()`` says what is wrong and what is expected."""


def save_checkpoint(path: str, state: dict) -> None:
    """Atomically: a crash mid-write never leaves a broken checkpoint at ``path``."""
    tmp = f"{path}.partial-{os.getpid()}"
    torch.save(state, tmp)
    os.replace(tmp, path)


def autocast_for(device: torch.device, precision: str):
    """A context factory for the training loops: the precision context the engine runs in."""
    return functools.partial(autocast, device, precision)


def restore(resumed: dict, model, optimizer, scheduler, args) -> tuple[list[dict], int]:
    """A ``--resume`` checkpoint's weights, optimizer and schedule put back; (its metrics, its epoch)."""
    model.load_state_dict(resumed["state_dict"])
    optimizer.load_state_dict(resumed["optimizer"])
    scheduler.load_state_dict(resumed["scheduler"])
    metrics, start_epoch = list(resumed["metrics"]), int(resumed["epoch"])
    if start_epoch >= args.epochs:
        raise DataError(f"{args.resume} has already trained {start_epoch} epochs: ask for more with --epochs")
    return metrics, start_epoch


def lr_lambda(total_steps: int, warmup_steps: int):
    """Linear warm-up to the base rate, then a cosine down to zero, per step."""
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return factor


def write_csv(out: str, metrics: list[dict]) -> tuple[str, str]:
    """``OUT.csv``, one row per epoch, beside the checkpoint; (its path, the PNG's path beside it)."""
    stem = os.path.splitext(out)[0]
    with open(stem + ".csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(metrics[0]))
        writer.writeheader()
        writer.writerows(metrics)
    return stem + ".csv", stem + ".png"


def load_training_checkpoint(path: str, fmt: str, what: str) -> dict:
    """A checkpoint ``--resume`` can continue: of format ``fmt``, with its optimizer's state."""
    from ..backbones import CheckpointError, read_checkpoint

    state = read_checkpoint(path)
    if not (isinstance(state, dict) and state.get("format") == fmt and "optimizer" in state):
        raise CheckpointError(f"{path}: not a checkpoint of {what}, so it cannot be resumed")
    return state
