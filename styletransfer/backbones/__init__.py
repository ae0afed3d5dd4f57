"""Frozen feature extractors with named layers and offline weights, loaded once per process and device."""
from __future__ import annotations

import functools
import os
import threading

import torch
from torch import nn

from .builtin import BACKBONES, VGG_STYLE, BackboneSpec
from .chains import VGG16_CFG, VGG19_CFG, vgg_layers
from .checkpoints import (CHECKPOINT_SUFFIXES, STUDENT_FORMAT, STUDENT_LAYERS, TORCHVISION_ARCHS, ScriptedBackbone,
                          build_student, is_checkpoint_path, list_checkpoints, load_checkpoint_backbone,
                          read_checkpoint, student_backbone)
from .core import AdaptedBackbone, AffineInput, Backbone, CaffeInput, CheckpointError, WeightsUnavailable
from .weights import checkpoint_path, load_caffe_vgg19_state, sha256_of

__all__ = ["AdaptedBackbone", "AffineInput", "BACKBONES", "Backbone", "BackboneSpec", "CHECKPOINT_SUFFIXES",
           "CaffeInput", "CheckpointError", "STUDENT_FORMAT", "STUDENT_LAYERS", "ScriptedBackbone", "TORCHVISION_ARCHS",
           "VGG16_CFG", "VGG19_CFG", "VGG_STYLE", "WeightsUnavailable", "build_student", "checkpoint_path",
           "is_checkpoint_path", "list_checkpoints", "load_backbone", "load_caffe_vgg19_state",
           "load_checkpoint_backbone", "min_input_side", "read_checkpoint", "sha256_of", "student_backbone",
           "vgg_layers"]


_cache: dict[tuple, tuple[float | None, nn.Module]] = {}
_cache_lock = threading.Lock()


def load_backbone(name: str = "vgg19", device: str | torch.device = "cpu", arch: str | None = None) -> Backbone:
    """The backbone ``name`` (built-in or file) on ``device``, loaded once per process, frozen, shared; a file
    is reloaded when it changes."""
    if name in BACKBONES:
        key, version = (name, None, str(torch.device(device))), None
    elif is_checkpoint_path(name):
        key = (os.path.abspath(name), arch, str(torch.device(device)))
        version = os.path.getmtime(name) if os.path.exists(name) else 0
    else:
        raise ValueError(f"unknown backbone {name!r}; choose one of: {', '.join(BACKBONES)}, or a checkpoint "
                         f"file ({', '.join(CHECKPOINT_SUFFIXES)})")
    with _cache_lock:
        cached = _cache.get(key)
        if cached is None or cached[0] != version:
            cached = version, (BACKBONES[name].build(True) if name in BACKBONES
                               else load_checkpoint_backbone(name, arch)).to(device)
            _cache[key] = cached
    return cached[1]


@functools.lru_cache(maxsize=128)
def _min_side_cached(key: tuple, layers: tuple[str, ...] | None, probe_device: str) -> int:
    name, arch = key[0], key[1]
    if name in BACKBONES:
        with torch.device("meta"):  # the architecture without its weights
            net = BACKBONES[name].build(False)
    else:
        net = load_backbone(name, "cpu", arch)
    layers = tuple(layers or tuple(net.content_layers) + tuple(net.style_layers))
    net = net.truncated(layers)
    if name in BACKBONES:
        # Uninitialised CPU memory for the layers in use: garbage values, the right shapes, and real CPU
        # kernels on a few tiny inputs take milliseconds (the meta device's Python shape functions took
        # about two seconds per process).
        net = net.to_empty(device=probe_device)

    def fits(side: int) -> bool:
        try:
            with torch.no_grad():
                out = net(torch.zeros(1, 3, side, side, device=probe_device), layers)
        except RuntimeError:  # "Output size is too small"
            return False
        return all(o.shape[-1] >= 1 and o.shape[-2] >= 1 for o in out.values())

    # Smallest side that fits (the layers' output only grows with the input): double from 8 px until one
    # fits, then halve the gap; every probe stays small, so none costs more than a few milliseconds.
    high = 8
    while not fits(high):
        if high >= 1024:
            raise ValueError(f"backbone {name!r} needs inputs larger than {high} px for layers {', '.join(layers)}")
        high *= 2
    low = high // 2 + 1 if high > 8 else 1
    while low < high:
        mid = (low + high) // 2
        low, high = (low, mid) if fits(mid) else (mid + 1, high)
    return low


def min_input_side(name: str, layers: tuple[str, ...] | None = None, arch: str | None = None) -> int:
    """The smallest input side (px) at which every layer in ``layers`` keeps a position (found on zeros)."""
    if name in BACKBONES:
        return _min_side_cached((name, None, 0), layers, "cpu")
    if not is_checkpoint_path(name):
        raise ValueError(f"unknown backbone {name!r}; choose one of: {', '.join(BACKBONES)}")
    mtime = os.path.getmtime(name) if os.path.exists(name) else 0
    return _min_side_cached((name, arch, mtime), layers, "cpu")
