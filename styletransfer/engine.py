"""The optimisation loop: gradient descent on the pixels of the image, coarse to fine.

* :class:`Settings` — everything that defines a run (recorded in the output PNG).
* :class:`Controls` — what a running job may change between iterations: weights and stop.
* :class:`Progress` — what the loop reports after every iteration.
* :class:`Objective` — content + style + TV at one scale, targets computed once per scale.
* :class:`StyleTransfer` — the loop itself, an iterator of :class:`Progress`.
* :func:`stylize` — the one-call API used by the CLI, the studio and the workers.
"""
from __future__ import annotations

import contextlib
import dataclasses
import math
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterator, Literal, Sequence

import torch
from PIL import Image

from . import images
from .backbones import BACKBONES, Backbone, load_backbone
from .losses import ContentLoss, GramStyleLoss, WassersteinStyleLoss, tv_mean

__all__ = ["Controls", "Objective", "Progress", "Settings", "StyleTransfer", "plan_scales", "stylize",
           "pick_device", "pick_precision", "default_iterations"]

LIVE_FIELDS = ("content_weight", "style_weight", "tv_weight", "style_layer_weights")
LBFGS_HISTORY = 16  # 2 × 16 image-sized vectors: ~100 MB at 512 px, enough curvature for this problem


# --------------------------------------------------------------------------------------------
# Hardware choices


def pick_device(device: str = "auto") -> torch.device:
    """``auto``: cuda if present, else mps, else cpu."""
    if device != "auto":
        dev = torch.device(device)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device {device!r} requested but CUDA is not available on this machine")
        if dev.type == "mps" and not torch.backends.mps.is_available():
            raise ValueError(f"device {device!r} requested but MPS is not available on this machine")
        return dev
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def cpu_has_fast_bf16() -> bool:
    """AVX-512-BF16 or AMX: oneDNN then runs bf16 convolutions about twice as fast as fp32."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), "")
    except OSError:
        return False
    return any(flag in flags.split() for flag in ("avx512_bf16", "amx_bf16"))


def pick_precision(device: torch.device, precision: str = "auto") -> str:
    """``auto``: bf16 autocast on CUDA and on CPUs with native bf16, else fp32."""
    if precision not in ("auto", "fp32", "bf16"):
        raise ValueError(f"precision must be auto, fp32 or bf16, not {precision!r}")
    if precision != "auto":
        return precision
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return "bf16"
    if device.type == "cpu" and cpu_has_fast_bf16():
        return "bf16"
    return "fp32"


def default_iterations(device: torch.device | str = "auto") -> int:
    """Final-scale iterations for 'default quality': ~1.5 min at 512 px on a 2-core laptop CPU."""
    dev = pick_device(device) if isinstance(device, str) else device
    return 35 if dev.type == "cpu" else 300


# --------------------------------------------------------------------------------------------
# Settings and live controls


@dataclass
class Settings:
    """Everything that defines a run. ``seed=None`` is replaced by a concrete seed when a run starts."""

    size: int = 512                      # long side of the result, px
    iterations: int | None = None        # at the final scale; each coarser scale runs twice as many
    optimizer: Literal["lbfgs", "adam"] = "lbfgs"
    content_weight: float = 1.0
    style_weight: float = 10.0
    tv_weight: float = 3.0
    style_blend: tuple[float, ...] | None = None  # one weight per style image
    style_scale: float = 1.0             # painting's long side relative to the result's
    backbone: str = "vgg19"
    content_layers: tuple[str, ...] | None = None  # None: the backbone's defaults
    style_layers: tuple[str, ...] | None = None
    style_layer_weights: tuple[float, ...] | None = None  # None: equal
    style_loss: Literal["gram", "w2"] = "gram"
    init: Literal["content", "noise", "style"] = "content"
    multiscale: bool = True
    min_size: int = 128
    preserve_color: bool = False
    seed: int | None = None
    device: str = "auto"
    precision: str = "auto"
    channels_last: bool | None = None    # None: on CUDA only (measured slower on CPU in bf16)
    frame_every: int = 1                 # report the image every N iterations (losses always)

    def validate(self, n_styles: int | None = None) -> "Settings":
        """Raise ValueError with one readable line for anything out of range."""
        def need(cond, msg):
            if not cond:
                raise ValueError(msg)

        need(isinstance(self.size, int) and 16 <= self.size <= 8192, f"size must be 16..8192 px, not {self.size}")
        need(self.iterations is None or (isinstance(self.iterations, int) and 0 <= self.iterations <= 100_000),
             f"iterations must be 0..100000, not {self.iterations}")
        need(self.optimizer in ("lbfgs", "adam"), f"optimizer must be lbfgs or adam, not {self.optimizer!r}")
        for name in ("content_weight", "style_weight", "tv_weight"):
            v = getattr(self, name)
            need(isinstance(v, (int, float)) and math.isfinite(v) and v >= 0, f"{name} must be a number ≥ 0, not {v}")
        need(self.backbone in BACKBONES, f"unknown backbone {self.backbone!r}; choose one of: {', '.join(BACKBONES)}")
        need(self.style_loss in ("gram", "w2"), f"style_loss must be gram or w2, not {self.style_loss!r}")
        need(self.init in ("content", "noise", "style"), f"init must be content, noise or style, not {self.init!r}")
        need(0.05 <= self.style_scale <= 8, f"style_scale must be 0.05..8, not {self.style_scale}")
        need(16 <= self.min_size <= 4096, f"min_size must be 16..4096, not {self.min_size}")
        need(self.frame_every >= 1, "frame_every must be ≥ 1")
        if self.style_blend is not None:
            need(all(w >= 0 and math.isfinite(w) for w in self.style_blend) and sum(self.style_blend) > 0,
                 "style blend weights must be ≥ 0 and not all 0")
            if n_styles is not None:
                need(len(self.style_blend) == n_styles,
                     f"{len(self.style_blend)} style blend weights given for {n_styles} style images")
        if self.style_layer_weights is not None:
            need(all(w >= 0 for w in self.style_layer_weights) and sum(self.style_layer_weights) > 0,
                 "style layer weights must be ≥ 0 and not all 0")
        return self

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(self).items()}

    def live_weights(self, changes: dict | None = None) -> dict:
        """The weights a running job may change (:data:`LIVE_FIELDS`), with ``changes`` applied."""
        weights = {name: getattr(self, name) for name in LIVE_FIELDS}
        weights.update(changes or {})
        return weights

    @classmethod
    def from_dict(cls, values: dict) -> "Settings":
        """The inverse of :meth:`to_dict` (unknown keys, e.g. from a newer version, are ignored)."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in values.items() if k in names})


class Controls:
    """Thread-safe handle on a running job: change the live weights, or stop it.

    A change takes effect at the start of the next iteration; the loop then resets the L-BFGS
    history, since curvature pairs measured on the old objective would mislead it.
    """

    def __init__(self, **weights):
        self._lock = threading.Lock()
        self._weights: dict = {}
        self._version = 0
        self._stop = threading.Event()
        if weights:
            self.update(**weights)

    def update(self, **weights) -> dict:
        for key, value in weights.items():
            if key not in LIVE_FIELDS:
                raise ValueError(f"{key} cannot be changed while running (only {', '.join(LIVE_FIELDS)})")
            if key == "style_layer_weights":
                if value is not None and (any(w < 0 for w in value) or sum(value) <= 0):
                    raise ValueError("style layer weights must be ≥ 0 and not all 0")
            elif not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ValueError(f"{key} must be a number ≥ 0, not {value!r}")
        with self._lock:
            self._weights.update({k: (tuple(v) if isinstance(v, (list, tuple)) else v) for k, v in weights.items()})
            self._version += 1
            return dict(self._weights)

    def snapshot(self) -> tuple[int, dict]:
        with self._lock:
            return self._version, dict(self._weights)

    def stop(self) -> None:
        self._stop.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()


@dataclass
class Progress:
    """One iteration's report. ``image`` is the current picture, (1, 3, H, W) in [0, 1], on the CPU."""

    iteration: int              # 1-based, counted over all scales
    total_iterations: int
    scale: int                  # 1-based index of the current scale
    scales: int
    size: tuple[int, int]       # (width, height) at this scale
    losses: dict[str, float]    # content, style, tv (normalised, unweighted) and total (weighted)
    weights: dict               # weights in force for this iteration
    elapsed: float
    eta: float
    weights_changed: bool = False
    image: torch.Tensor | None = None

    def to_image(self) -> Image.Image | None:
        return None if self.image is None else images.tensor_to_image(self.image)


# --------------------------------------------------------------------------------------------
# The objective at one scale


class Objective:
    """content + style + TV for one image size; style/content targets are computed here, once."""

    def __init__(self, net: Backbone, content: torch.Tensor, styles: list[torch.Tensor], settings: Settings,
                 autocast: Callable[[], contextlib.AbstractContextManager],
                 memory_format: torch.memory_format = torch.contiguous_format):
        self.net = net
        self.autocast = autocast
        self.memory_format = memory_format
        self.content_layers = tuple(settings.content_layers or net.content_layers)
        self.style_layers = tuple(settings.style_layers or net.style_layers)
        self.layers = tuple(dict.fromkeys(self.content_layers + self.style_layers))
        loss_cls = GramStyleLoss if settings.style_loss == "gram" else WassersteinStyleLoss
        blend = list(settings.style_blend or [1.0] * len(styles))
        with torch.no_grad():
            content_feats = self.features(content)
            per_style = [self.features(s) for s in styles]
        self.content_losses = {l: ContentLoss(content_feats[l]) for l in self.content_layers}
        self.style_losses = {
            l: loss_cls(loss_cls.blend([loss_cls.target_of(f[l]) for f in per_style], blend))
            for l in self.style_layers
        }

    def features(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        # The pixels stay a plain contiguous tensor (L-BFGS flattens them with view()); the network
        # sees them in its memory format, so it runs channels_last end to end where that is chosen.
        with self.autocast():
            return self.net(image.contiguous(memory_format=self.memory_format), self.layers)

    def __call__(self, image: torch.Tensor, weights: dict) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        feats = self.features(image)
        content = sum(loss(feats[l]) for l, loss in self.content_losses.items()) / len(self.content_losses)
        lw = weights.get("style_layer_weights") or [1.0] * len(self.style_layers)
        lw = _per_layer(lw, len(self.style_layers))
        style = sum(w * loss(feats[l]) for w, (l, loss) in zip(lw, self.style_losses.items()))
        tv = tv_mean(image)
        total = weights["content_weight"] * content + weights["style_weight"] * style + weights["tv_weight"] * tv
        return total, {"content": content, "style": style, "tv": tv}


def _per_layer(weights: Sequence[float], n: int) -> list[float]:
    """Layer weights normalised to sum 1; a short list repeats its last value."""
    w = list(weights)[:n] + [list(weights)[-1]] * max(0, n - len(weights))
    total = sum(w)
    return [x / total for x in w]


# --------------------------------------------------------------------------------------------
# Scales


def plan_scales(size: int, iterations: int, multiscale: bool = True, min_size: int = 128) -> list[tuple[int, int]]:
    """[(long side, iterations), ...] from coarse to fine.

    Sides halve from ``size`` while they stay ≥ ``min_size``; each coarser scale runs twice the
    iterations of the next finer one at a quarter of the cost, so all coarser scales together take
    less time than the final one.
    """
    if not multiscale or size < 2 * min_size:
        return [(size, iterations)]
    n = int(math.floor(math.log2(size / min_size))) + 1
    return [(round(size / 2 ** k), iterations * 2 ** k) for k in reversed(range(n))]


# --------------------------------------------------------------------------------------------
# The loop


class StyleTransfer:
    """Iterate over :class:`Progress` while stylising; ``result`` holds the image at the end."""

    def __init__(self, settings: Settings | None = None, controls: Controls | None = None):
        self.settings = settings or Settings()
        self.device = pick_device(self.settings.device)
        self.precision = pick_precision(self.device, self.settings.precision)
        if self.settings.iterations is None:
            self.settings.iterations = default_iterations(self.device)
        if self.settings.seed is None:
            self.settings.seed = secrets.randbelow(2**31)
        self.controls = controls or Controls()
        self.result: Image.Image | None = None
        self.losses: dict[str, float] = {}
        self.iteration_seconds: list[float] = []
        self.stopped = False

    def autocast(self):
        if self.precision == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def live_weights(self) -> tuple[int, dict]:
        version, changes = self.controls.snapshot()
        return version, self.settings.live_weights(changes)

    def make_optimizer(self, x: torch.Tensor) -> torch.optim.Optimizer:
        if self.settings.optimizer == "lbfgs":
            # one function evaluation per step: the loop's iteration is the optimiser's iteration
            return torch.optim.LBFGS([x], lr=1.0, max_iter=1, history_size=LBFGS_HISTORY,
                                     tolerance_grad=0, tolerance_change=0)
        return torch.optim.Adam([x], lr=0.02)

    def run(self, content: Image.Image, styles: Sequence[Image.Image]) -> Iterator[Progress]:
        s = self.settings.validate(n_styles=len(styles))
        if not styles:
            raise ValueError("at least one style image is needed")
        torch.manual_seed(s.seed)
        generator = torch.Generator().manual_seed(s.seed)
        start = time.perf_counter()
        net = load_backbone(s.backbone, self.device)
        layers = list(s.content_layers or net.content_layers) + list(s.style_layers or net.style_layers)
        net = net.truncated(layers)
        channels_last = s.channels_last if s.channels_last is not None else self.device.type == "cuda"
        memory_format = torch.channels_last if channels_last else torch.contiguous_format
        if s.style_layer_weights is not None and len(s.style_layer_weights) != len(s.style_layers or net.style_layers):
            raise ValueError(f"{len(s.style_layer_weights)} style layer weights for "
                             f"{len(s.style_layers or net.style_layers)} style layers")

        plan = plan_scales(s.size, s.iterations, s.multiscale, s.min_size)
        total = sum(n for _, n in plan)
        # colour preservation matches each painting to the photo's colours, measured at the final size
        colour_reference = (images.image_to_tensor(images.resize_long_side(content, s.size))
                            if s.preserve_color else None)
        x: torch.Tensor | None = None
        done = 0
        for scale_index, (side, iters) in enumerate(plan, start=1):
            if self.controls.stopped and x is not None:  # stopped at the end of a scale: keep that image
                self.stopped = True
                break
            content_img = images.resize_long_side(content, side)
            w, h = content_img.size
            content_t = images.image_to_tensor(content_img, self.device)
            style_ts = []
            for style in styles:
                st = images.image_to_tensor(images.resize_long_side(style, max(16, round(side * s.style_scale))))
                if colour_reference is not None:
                    st = images.match_color(st, colour_reference)
                style_ts.append(st.to(self.device))
            objective = Objective(net, content_t, style_ts, s, self.autocast, memory_format)

            if x is None:
                x = self._initial_image(content_t, style_ts[0], generator)
            else:
                x = images.resize_tensor(x.detach(), (h, w))
            x = x.to(self.device).contiguous().detach().requires_grad_(True)
            optimizer = self.make_optimizer(x)
            seen_version, weights = self.live_weights()
            scale_start = time.perf_counter()
            for i in range(iters):
                if self.controls.stopped:
                    self.stopped = True
                    break
                version, weights = self.live_weights()
                changed = version != seen_version
                if changed:
                    seen_version = version
                    optimizer = self.make_optimizer(x)
                terms_box: dict = {}

                def closure():
                    optimizer.zero_grad(set_to_none=True)
                    loss, terms = objective(x, weights)
                    loss.backward()
                    terms_box.update(terms, total=loss)
                    return loss

                t0 = time.perf_counter()
                optimizer.step(closure)
                if s.optimizer == "adam":
                    with torch.no_grad():
                        x.clamp_(0, 1)
                losses = {k: float(v.detach()) for k, v in terms_box.items()}
                self.iteration_seconds.append(time.perf_counter() - t0)
                done += 1
                self.losses = losses
                now = time.perf_counter()
                per_iter = (now - scale_start) / (i + 1)
                remaining = (iters - i - 1) * per_iter + sum(
                    n * per_iter * (side2 / side) ** 2 for side2, n in plan[scale_index:])
                last = i == iters - 1 and scale_index == len(plan)
                want_frame = changed or i == 0 or last or (done % s.frame_every == 0)
                yield Progress(
                    iteration=done, total_iterations=total, scale=scale_index, scales=len(plan), size=(w, h),
                    losses=losses, weights=dict(weights), elapsed=now - start, eta=remaining,
                    weights_changed=changed,
                    image=x.detach().float().clamp(0, 1).cpu().contiguous() if want_frame else None,
                )
            if self.stopped:
                break
        self.result = images.tensor_to_image(x)

    def _initial_image(self, content: torch.Tensor, style: torch.Tensor, generator: torch.Generator):
        init = self.settings.init
        if init == "content":
            return content.clone()
        if init == "style":
            return images.resize_tensor(style, tuple(content.shape[-2:]))
        noise = torch.rand(content.shape, generator=generator)
        return (0.5 + (noise - 0.5) * 0.5).to(content.device)


# --------------------------------------------------------------------------------------------
# The one-call API


def _as_image(value, name: str) -> Image.Image:
    if isinstance(value, Image.Image):
        return images.checked_rgb(value, name)
    if isinstance(value, (bytes, bytearray)):
        return images.decode_image(bytes(value), name=name)
    return images.load_image(value)


def stylize(
    content: Image.Image | str,
    style: Image.Image | str | Sequence[Image.Image | str],
    *,
    size: int = 512,
    iterations: int | None = None,
    optimizer: Literal["lbfgs", "adam"] = "lbfgs",
    content_weight: float = 1.0,
    style_weight: float = 10.0,
    tv_weight: float = 3.0,
    style_blend: Sequence[float] | None = None,
    style_scale: float = 1.0,
    backbone: str = "vgg19",
    content_layers: Sequence[str] | None = None,
    style_layers: Sequence[str] | None = None,
    style_layer_weights: Sequence[float] | None = None,
    style_loss: Literal["gram", "w2"] = "gram",
    init: Literal["content", "noise", "style"] = "content",
    multiscale: bool = True,
    preserve_color: bool = False,
    seed: int | None = None,
    device: str = "auto",
    precision: str = "auto",
    callback: Callable[[Progress], None] | None = None,
    controls: Controls | None = None,
) -> Image.Image:
    """Paint ``content`` in the style of ``style`` (one image or several, blended) and return the result.

    Images may be PIL images, paths or encoded bytes. ``callback`` receives a :class:`Progress` after
    every iteration; ``controls`` lets another thread change the weights or stop (the image so far is
    returned). The returned image's ``info["settings"]`` holds every setting, the seed included.
    """
    styles = list(style) if isinstance(style, (list, tuple)) else [style]
    settings = Settings(
        size=size, iterations=iterations, optimizer=optimizer, content_weight=content_weight,
        style_weight=style_weight, tv_weight=tv_weight, style_blend=tuple(style_blend) if style_blend else None,
        style_scale=style_scale, backbone=backbone,
        content_layers=tuple(content_layers) if content_layers else None,
        style_layers=tuple(style_layers) if style_layers else None,
        style_layer_weights=tuple(style_layer_weights) if style_layer_weights else None,
        style_loss=style_loss, init=init, multiscale=multiscale, preserve_color=preserve_color, seed=seed,
        device=device, precision=precision,
    )
    content_img = _as_image(content, "content image")
    style_imgs = [_as_image(s, f"style image {i + 1}") for i, s in enumerate(styles)]
    run = StyleTransfer(settings, controls)
    for progress in run.run(content_img, style_imgs):
        if callback is not None:
            callback(progress)
    result = run.result
    result.info["settings"] = run.settings.to_dict()
    return result
