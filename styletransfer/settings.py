"""The one definition of every setting of a run, and its one validator; everything else derives from it."""
from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
from typing import Any, Callable

__all__ = ["LIVE_FIELDS", "SettingError", "Settings", "check_live", "check_setting", "plain", "setting_fields",
           "steering"]


class SettingError(ValueError):
    """A setting out of range or of the wrong type; ``str()`` is one line for the user."""


def plain(values: dict) -> dict:
    """Values as JSON holds them (lists, not tuples): for records, Redis and the API."""
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in values.items()}


def setting(default: Any, help: str, *, kind: str, low: float | None = None, high: float | None = None,
            choices: tuple | Callable[[], tuple] | None = None, optional: bool = False, live: bool = False,
            cli: bool = True, label: str | None = None, slider: tuple[float, float] | None = None,
            off_help: str | None = None):
    """A dataclass field with its metadata (``kind``, bounds, ``choices``, ``live``, the page's ``slider``)."""
    return field(default=default, metadata={
        "help": help, "kind": kind, "low": low, "high": high, "choices": choices, "optional": optional,
        "live": live, "cli": cli, "label": label, "slider": slider, "off_help": off_help})


def _backbone_names() -> tuple[str, ...]:
    from .backbones import BACKBONES  # late: backbones imports torch, settings stays light

    return tuple(BACKBONES)


def _torchvision_archs() -> tuple[str, ...]:
    from .backbones import TORCHVISION_ARCHS

    return TORCHVISION_ARCHS


@dataclass(frozen=True)
class Settings:
    """Everything that defines a run, checked when made and frozen; ``seed``, ``iterations``,
    ``coarse_factor`` and ``draft_backbone`` left None are filled in at admission."""

    size: int = setting(512, "long side of the result, px", kind="int", low=16, high=8192)
    iterations: int | None = setting(
        None, "iterations at the final scale; default: 25 on a CPU, 300 on a GPU", kind="int", low=0,
        high=100_000, optional=True)
    coarse_factor: float | None = setting(
        None, "iterations at each coarser scale, as a multiple of the final scale's; 0: twice the next finer "
        "scale's (2×, 4×, 8×…); default: 1.8 on a CPU, 0 on a GPU", kind="float", low=0, high=100, optional=True)
    optimizer: str = setting("lbfgs", "L-BFGS converges in fewer steps; Adam is steadier with huge weights",
                             kind="choice", choices=("lbfgs", "adam"))
    content_weight: float = setting(1.0, "how much of the photo's structure to keep", kind="float", low=0,
                                    high=1e6, live=True, label="Content", slider=(-2, 2))
    style_weight: float = setting(10.0, "how strongly to paint in the painting's style", kind="float", low=0,
                                  high=1e6, live=True, label="Style", slider=(-1, 3))
    tv_weight: float = setting(3.0, "suppresses pixel noise; too much looks blurry", kind="float",
                               low=0, high=1e6, live=True, label="Smoothness (TV)", slider=(-2, 2))
    style_blend: tuple[float, ...] | None = setting(
        None, "one blend weight per painting", kind="floats", low=0, high=1e6, optional=True)
    style_scale: float = setting(1.0, "size of the painting's strokes relative to the result", kind="float",
                                 low=0.05, high=8)
    style_loss: str | None = setting(
        None, "gram: Gatys' Gram matrices; w2: Wasserstein-2 of mean and covariance (default: the backbone's — "
        "gram; w2 on EfficientNet-Lite)", kind="choice", choices=("gram", "w2"), optional=True)
    backbone: str = setting("vgg19", "the network that sees the images: a built-in name, or a checkpoint file "
                            "(.pt/.pth/.ts) of your own", kind="backbone", choices=_backbone_names)
    draft_backbone: str | None = setting(
        None, "the network that paints the coarse scales, the backbone then the final one (none: the backbone "
        "throughout; default: efficientnet-lite0 on a CPU under vgg19, else none)", kind="choice",
        choices=("none", "efficientnet-lite0", "efficientnet-lite1"), optional=True)
    backbone_arch: str | None = setting(None, "the torchvision architecture of a plain state_dict checkpoint",
                                        kind="choice", choices=_torchvision_archs, optional=True)
    content_layers: tuple[str, ...] | None = setting(
        None, "content layers (default: the backbone's)", kind="names", optional=True)
    style_layers: tuple[str, ...] | None = setting(
        None, "style layers (default: the backbone's)", kind="names", optional=True)
    style_layer_weights: tuple[float, ...] | None = setting(
        None, "one weight per style layer (default: equal)", kind="floats", low=0, high=1e6, optional=True,
        live=True)
    init: str = setting("content", "what the optimisation starts from", kind="choice",
                        choices=("content", "noise", "style"))
    multiscale: bool = setting(True, "coarse to fine: start at ~128 px and double up to the size", kind="bool",
                               off_help="one scale only, at the full size (default: coarse to fine, from ~128 px "
                               "doubling up to the size)")
    min_size: int = setting(128, "long side of the coarsest scale, px", kind="int", low=16, high=4096, cli=False)
    preserve_color: bool = setting(False, "keep the photo's colours", kind="bool")
    seed: int | None = setting(None, "random seed (noise init); recorded in the result", kind="int", low=0,
                               high=2**63 - 1, optional=True)
    device: str = setting("auto", "auto, cpu, cuda, cuda:N or mps", kind="str")
    precision: str = setting("auto", "auto: bf16 where the hardware runs it fast, else fp32", kind="choice",
                             choices=("auto", "fp32", "bf16"))
    channels_last: bool | None = setting(None, "channels_last memory format (default: on CUDA and CPU)",
                                         kind="bool", optional=True, cli=False)
    max_memory: float | None = setting(None, "memory budget, GB: a scale that would exceed it runs in tiles "
                                       "(default: what the device has free)", kind="float", low=0.25, high=65536,
                                       optional=True)
    frame_every: int = setting(1, "report the image every N iterations", kind="int", low=1, high=10**9, cli=False)
    schedule: tuple[dict, ...] = setting((), "weight changes made while it ran: {iteration, weights}",
                                         kind="schedule", cli=False)
    stop_after: int | None = setting(None, "stop after this many iterations (a stopped run's record)",
                                     kind="int", low=0, high=10**9, optional=True, cli=False)

    def __post_init__(self):
        for f in dataclasses.fields(self):
            object.__setattr__(self, f.name, check_setting(f.name, getattr(self, f.name)))

    def validate(self, n_styles: int | None = None) -> "Settings":
        """The rules that need the inputs too: one blend weight per painting. Returns the settings."""
        if self.style_blend is not None and n_styles is not None and len(self.style_blend) != n_styles:
            raise SettingError(f"{len(self.style_blend)} style blend weights given for {n_styles} "
                              f"painting{'s' * (n_styles != 1)}")
        return self

    def to_dict(self) -> dict:
        return plain(dataclasses.asdict(self))

    def live_weights(self, changes: dict | None = None) -> dict:
        """The weights a running job may change (:data:`LIVE_FIELDS`), with ``changes`` applied."""
        weights = {name: getattr(self, name) for name in LIVE_FIELDS}
        weights.update(changes or {})
        return weights

    def steered(self, events, stop_after: int | None) -> "Settings":
        """The run's record: these settings, the weight changes made while it ran and where it stopped."""
        return dataclasses.replace(self, **steering(events, stop_after))

    @classmethod
    def from_dict(cls, values: dict) -> "Settings":
        """The inverse of :meth:`to_dict`, checked; an unknown key is refused with one line."""
        if not isinstance(values, dict):
            raise SettingError("settings must be a JSON object")
        values = _without_removed(values)
        unknown = sorted(set(values) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise SettingError(f"unknown setting {', '.join(map(repr, unknown))}")
        # a record from before a setting replays as it ran: coarse scales 2×, 4×, 8×…, on the backbone alone
        record = set(values) >= _FIELDS.keys() - {"coarse_factor", "max_memory", "draft_backbone"}
        if record and "coarse_factor" not in values:
            values = {**values, "coarse_factor": 0.0}
        if record and "draft_backbone" not in values:
            values = {**values, "draft_backbone": "none"}
        return cls(**values)


def _without_removed(values: dict) -> dict:
    """A record without a removed setting; SettingError where the run depended on it (``smoothing`` "on")."""
    if "smoothing" not in values:
        return values
    if values["smoothing"] != "off":
        raise SettingError("smoothing is no longer offered: it left the photo unchanged on every network tried; "
                           "leave it out")
    return {k: v for k, v in values.items() if k != "smoothing"}


def steering(events, stop_after: int | None) -> dict:
    """What a run's record adds to its start settings (the one definition, for Settings and stored dicts)."""
    return {"schedule": [dict(e) for e in events], "stop_after": stop_after}


_FIELDS = {f.name: f for f in dataclasses.fields(Settings)}
LIVE_FIELDS = tuple(name for name, f in _FIELDS.items() if f.metadata["live"])


def check_live(weights: dict) -> dict:
    """Changes to a running job: only :data:`LIVE_FIELDS`, each checked (SettingError)."""
    checked = {}
    for key, value in weights.items():
        if key not in LIVE_FIELDS:
            raise SettingError(f"{key} cannot be changed while running (only {', '.join(LIVE_FIELDS)})")
        checked[key] = check_setting(key, value)
    return checked


def setting_fields() -> list[dataclasses.Field]:
    """The fields of :class:`Settings`, in order, each with its metadata."""
    return list(_FIELDS.values())


def _number(name: str, value, meta, integer: bool):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SettingError(f"{name} must be a number, not {_shown(value)}")
    if not math.isfinite(value):
        raise SettingError(f"{name} must be a finite number, not {value}")
    if integer:
        if value != int(value):
            raise SettingError(f"{name} must be a whole number, not {value}")
        value = int(value)
    else:
        value = float(value)
    low, high = meta["low"], meta["high"]
    if (low is not None and value < low) or (high is not None and value > high):
        raise SettingError(f"{name} must be between {_fmt(low)} and {_fmt(high)}, not {_fmt(value)}")
    return value


def _fmt(x) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def check_setting(name: str, value):
    """``value`` checked and normalised for the setting ``name`` (tuples for lists); SettingError if not."""
    f = _FIELDS.get(name)
    if f is None:
        raise SettingError(f"unknown setting {name!r}")
    meta = f.metadata
    kind = meta["kind"]
    if value is None:
        if meta["optional"]:
            return None
        raise SettingError(f"{name} is required")
    if kind == "int":
        return _number(name, value, meta, integer=True)
    if kind == "float":
        return _number(name, value, meta, integer=False)
    if kind == "bool":
        if not isinstance(value, bool):
            raise SettingError(f"{name} must be true or false, not {_shown(value)}")
        return value
    if kind in ("choice", "str"):
        if not isinstance(value, str):
            raise SettingError(f"{name} must be text, not {_shown(value)}")
        choices = meta["choices"]() if callable(meta["choices"]) else meta["choices"]
        if choices is not None and value not in choices:
            raise SettingError(f"unknown {name.replace('_', ' ')} {value!r}; choose one of: {', '.join(choices)}")
        return value
    if kind in ("floats", "names"):
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)) or not value or len(value) > 64:
            raise SettingError(f"{name} must be a list of 1 to 64 {'numbers' if kind == 'floats' else 'names'}")
        if kind == "names":
            if not all(isinstance(v, str) and v for v in value):
                raise SettingError(f"{name} must be a list of layer names")
            return tuple(value)
        numbers = tuple(_number(name, v, meta, integer=False) for v in value)
        if sum(numbers) <= 0:
            raise SettingError(f"{name} must not all be 0")
        return numbers
    if kind == "schedule":
        return _check_schedule(name, value)
    if kind == "backbone":
        return _check_backbone(value)
    raise AssertionError(kind)


def _check_backbone(value) -> str:
    from .backbones import BACKBONES, CHECKPOINT_SUFFIXES, is_checkpoint_path

    if not isinstance(value, str):
        raise SettingError(f"backbone must be text, not {_shown(value)}")
    if value in BACKBONES:
        return value
    if is_checkpoint_path(value):
        if not os.path.isfile(value):
            raise SettingError(f"backbone file {value} not found")
        return value
    raise SettingError(f"unknown backbone {value!r}; choose one of: {', '.join(BACKBONES)}, or a checkpoint file "
                       f"({', '.join(CHECKPOINT_SUFFIXES)})")


def _check_schedule(name: str, value) -> tuple[dict, ...]:
    if not isinstance(value, (list, tuple)) or len(value) > 10_000:
        raise SettingError(f"{name} must be a list of weight changes")
    out = []
    for entry in value:
        if not isinstance(entry, dict) or not isinstance(entry.get("weights"), dict):
            raise SettingError(f"{name}: each change is {{iteration, weights}}")
        iteration = _number(f"{name} iteration", entry.get("iteration"), {"low": 1, "high": 10**9}, integer=True)
        try:
            weights = plain(check_live(entry["weights"]))
        except SettingError as exc:
            raise SettingError(f"{name}: {exc}") from None
        out.append({"iteration": iteration, "weights": weights})
    if any(a["iteration"] >= b["iteration"] for a, b in zip(out, out[1:])):
        raise SettingError(f"{name}: changes must be in increasing iteration order")
    return tuple(out)
