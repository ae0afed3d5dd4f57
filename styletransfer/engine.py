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
import warnings
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import torch
from PIL import Image

from . import images
from .backbones import Backbone, load_backbone, min_input_side
from .losses import ContentLoss, GramStyleLoss, WassersteinStyleLoss, tv_mean
from .settings import LIVE_FIELDS, SettingError, Settings, check_setting, plain

__all__ = ["Checkpoint", "Controls", "ImageTooSmall", "LBFGS", "Objective", "Progress", "Settings", "StyleTransfer",
           "check_inputs", "check_painting", "check_photo", "final_inputs", "plan_scales", "stylize", "pick_device",
           "pick_precision", "default_iterations"]
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
        checked = {}
        for key, value in weights.items():
            if key not in LIVE_FIELDS:
                raise SettingError(f"{key} cannot be changed while running (only {', '.join(LIVE_FIELDS)})")
            checked[key] = check_setting(key, value)
        with self._lock:
            self._weights.update(checked)
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
        self.smoothing = settings.smoothing == "on"
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
            feats = self.net(image.contiguous(memory_format=self.memory_format), self.layers)
        return {k: smooth(v) for k, v in feats.items()} if self.smoothing else feats

    def __call__(self, image: torch.Tensor, weights: dict) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        feats = self.features(image)
        content = sum(loss(feats[l]) for l, loss in self.content_losses.items()) / len(self.content_losses)
        lw = weights.get("style_layer_weights") or [1.0] * len(self.style_layers)
        lw = _per_layer(lw, len(self.style_layers))
        style = sum(w * loss(feats[l]) for w, (l, loss) in zip(lw, self.style_losses.items()))
        tv = tv_mean(image)
        total = weights["content_weight"] * content + weights["style_weight"] * style + weights["tv_weight"] * tv
        return total, {"content": content, "style": style, "tv": tv}


def smooth(features: torch.Tensor) -> torch.Tensor:
    """Softmax over all of a layer's activations (Wang, Li & Vasconcelos, CVPR 2021): it flattens the
    peaky, low-entropy activations of residual networks that make them paint badly. Scaled by the number
    of values so that it averages 1 at any size: a painting and a photo of different sizes compare."""
    flat = features.float().flatten(1)
    return (torch.softmax(flat, dim=1) * flat.shape[1]).view_as(features)


def _per_layer(weights: Sequence[float], n: int) -> list[float]:
    """Layer weights normalised to sum 1; a short list repeats its last value."""
    w = list(weights)[:n] + [list(weights)[-1]] * max(0, n - len(weights))
    total = sum(w)
    return [x / total for x in w]


# --------------------------------------------------------------------------------------------
# Scales


MIN_SOURCE_SIDE = 32  # px: below this an input holds too little to paint from or with


class ImageTooSmall(SettingError):
    """An input whose shape cannot be used at the requested size; ``str()`` says the numbers and what to do."""


def plan_scales(size: int, iterations: int, multiscale: bool = True, min_size: int = 128,
                aspect: float = 1.0, min_side: int = 1) -> list[tuple[int, int]]:
    """[(long side, iterations), ...] from coarse to fine, for an image whose short/long ratio is ``aspect``.

    Sides halve from ``size`` while they stay ≥ ``min_size`` and while the short side stays ≥ ``min_side``
    (what the backbone's deepest layer needs); each coarser scale runs twice the iterations of the next
    finer one at a quarter of the cost, so all coarser scales together take less time than the final one.
    """
    floor = max(min_size, math.ceil(min_side / aspect))
    if not multiscale or size < 2 * floor:
        return [(size, iterations)]
    n = int(math.floor(math.log2(size / floor))) + 1
    return [(round(size / 2 ** k), iterations * 2 ** k) for k in reversed(range(n))]


def _short_side(wh: tuple[int, int], long_side: int) -> int:
    """The short side after :func:`images.resize_long_side` to ``long_side`` (same rounding)."""
    return max(1, round(min(wh) * long_side / max(wh)))


def style_long_side(settings: Settings, side: int, style_wh: tuple[int, int], min_side: int) -> int:
    """The painting's long side at a scale whose long side is ``side``: ``side × style_scale``, enlarged
    at coarse scales where its short side would fall below what the backbone needs."""
    long_side = max(16, round(side * settings.style_scale))
    if _short_side(style_wh, long_side) < min_side:
        long_side = math.ceil(min_side * max(style_wh) / min(style_wh))
    return long_side


def _needed_side(settings: Settings) -> int:
    layers = tuple(settings.content_layers or ()) + tuple(settings.style_layers or ())
    return min_input_side(settings.backbone, layers or None, settings.backbone_arch)





def _check_source(wh: tuple[int, int], name: str) -> None:
    if min(wh) < MIN_SOURCE_SIDE:
        raise ImageTooSmall(f"{name}: {wh[0]}×{wh[1]} px is too small to work with (at least {MIN_SOURCE_SIDE} "
                            f"px a side); use a larger image")


def check_photo(settings: Settings, wh: tuple[int, int], name: str = "photo", source: bool = True) -> None:
    """:class:`ImageTooSmall` unless the photo's short side at ``settings.size`` is what the backbone needs
    (and, with ``source``, the file itself is at least ``MIN_SOURCE_SIDE`` px a side)."""
    if source:
        _check_source(wh, name)
    need, short = _needed_side(settings), _short_side(wh, settings.size)
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
    long_side = max(16, round(settings.size * settings.style_scale))
    need, short = _needed_side(settings), _short_side(wh, long_side)
    if short < need:
        raise ImageTooSmall(
            f"{name}: {wh[0]}×{wh[1]} px is too narrow: at {long_side} px its short side would be {short} px, "
            f"and {settings.backbone} needs at least {need} px; crop it to a less elongated shape")


def check_inputs(settings: Settings, content_wh: tuple[int, int], styles_wh: Sequence[tuple[int, int]] = (),
                 content_name: str = "photo", style_names: Sequence[str] | None = None, sources: bool = True) -> None:
    """Refuse, before any work, inputs the run cannot use (:class:`ImageTooSmall` says why and what to do):
    sources under ``MIN_SOURCE_SIDE`` px a side, and shapes whose short side at the requested size is
    below what the backbone's deepest layer in use needs (coarser scales adapt by themselves)."""
    check_photo(settings, content_wh, content_name, sources)
    names = list(style_names or [f"painting {i + 1}" if len(styles_wh) > 1 else "painting"
                                 for i in range(len(styles_wh))])
    for name, wh in zip(names, styles_wh):
        check_painting(settings, wh, name, sources)


def final_inputs(settings: Settings, content: Image.Image, styles: Sequence[Image.Image]):
    """The photo at the result's size and each painting at ``size × style_scale``: every scale is made
    from these, so a job that keeps only them (not the uploads) paints exactly the same pixels."""
    return (images.resize_long_side(content, settings.size),
            [images.resize_long_side(st, max(16, round(settings.size * settings.style_scale))) for st in styles])


@dataclass
class Checkpoint:
    """Where a run is, to resume it elsewhere: the image at its scale, and the steering so far."""

    scale: int                  # 1-based scale index the image belongs to
    iteration: int              # iterations done, over all scales
    image: torch.Tensor         # (1, 3, h, w) on the CPU
    events: list[dict]
    control_version: int        # the controls' version the run had seen


# --------------------------------------------------------------------------------------------
# The optimiser


class LBFGS:
    """L-BFGS on the pixels with a fixed step and one gradient per iteration: the same steps as
    ``torch.optim.LBFGS(lr=1, max_iter=1, tolerance_grad=0, tolerance_change=0)``, with no host-device
    synchronisation inside a step. torch's version turns tensors into Python numbers some 35 times a step
    (``alpha=`` scalars, ``if`` on tensors), and on a GPU those waits cost more than the network itself.

    The one difference: a curvature pair with ``y·s <= 1e-10``, which torch drops, is kept here with
    weight 0 (it changes no direction, only takes a place in the history); this keeps the decision on
    the device.
    """

    def __init__(self, x: torch.Tensor, history_size: int = LBFGS_HISTORY, lr: float = 1.0):
        self.x = x
        self.history_size = history_size
        self.lr = lr
        self.steps: list[torch.Tensor] = []      # s_k = x_{k+1} - x_k
        self.grad_diffs: list[torch.Tensor] = []  # y_k = g_{k+1} - g_k
        self.rho: list[torch.Tensor] = []        # 1 / (y_k · s_k), or 0 for a pair without curvature
        self.h_diag: torch.Tensor | float = 1.0  # scale of the initial inverse Hessian
        self.prev_grad: torch.Tensor | None = None
        self.direction: torch.Tensor | None = None
        self.t: torch.Tensor | float = lr

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.x.grad = None

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor]) -> torch.Tensor:
        with torch.enable_grad():
            loss = closure()
        grad = self.x.grad.reshape(-1)
        if self.prev_grad is None:
            direction = grad.neg()
            self.t = torch.clamp(1.0 / grad.abs().sum(), max=1.0) * self.lr  # a cautious first step
        else:
            self._remember(grad.sub(self.prev_grad), self.direction.mul(self.t))
            direction = self._two_loop(grad)
            self.t = self.lr
        self.prev_grad = grad  # zero_grad() drops x.grad, so the next backward writes a new tensor
        self.direction = direction
        self.x.add_(direction.view_as(self.x) * self.t)
        return loss

    def _remember(self, y: torch.Tensor, s: torch.Tensor) -> None:
        ys = y.dot(s)
        curved = ys > 1e-10
        if len(self.steps) == self.history_size:
            del self.steps[0], self.grad_diffs[0], self.rho[0]
        self.steps.append(s)
        self.grad_diffs.append(y)
        self.rho.append(torch.where(curved, 1.0 / ys, torch.zeros_like(ys)))
        self.h_diag = torch.where(curved, ys / y.dot(y), torch.as_tensor(self.h_diag, device=ys.device))

    def _two_loop(self, grad: torch.Tensor) -> torch.Tensor:
        """-H·grad by the two-loop recursion, every scalar kept on the device."""
        q = grad.neg()
        alphas = []
        for s, y, rho in zip(reversed(self.steps), reversed(self.grad_diffs), reversed(self.rho)):
            alpha = rho * s.dot(q)
            q.addcmul_(y, alpha, value=-1)
            alphas.append(alpha)
        r = q.mul_(self.h_diag)
        for s, y, rho, alpha in zip(self.steps, self.grad_diffs, self.rho, reversed(alphas)):
            beta = rho * y.dot(r)
            r.addcmul_(s, alpha - beta)
        return r


# --------------------------------------------------------------------------------------------
# The loop


class StyleTransfer:
    """Iterate over :class:`Progress` while stylising; ``result`` holds the image at the end.

    ``settings.schedule`` and ``settings.stop_after`` replay a recorded run's steering: each change is
    handed to the controls just before its iteration, exactly as a live change would arrive, so the
    replay takes the same steps. :meth:`record` is what this run did, in the same form.
    """

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
        self.events: list[dict] = []    # weight changes as they took effect: {iteration, weights}
        self.iterations_done = 0
        self.stopped = False
        self._x: torch.Tensor | None = None  # the pixels being optimised, for checkpoint()
        self._scale_index = 0
        self._seen_version = 0

    def autocast(self):
        if self.precision == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def live_weights(self) -> tuple[int, dict]:
        version, changes = self.controls.snapshot()
        return version, self.settings.live_weights(changes)

    def record(self) -> Settings:
        """The settings this run started with, how it was steered and where it stopped: replaying them
        (``--settings-from``, ``stylize(settings=...)``) reproduces the result."""
        return dataclasses.replace(self.settings, schedule=tuple(self.events),
                                   stop_after=self.iterations_done if self.stopped else None)

    def make_optimizer(self, x: torch.Tensor) -> LBFGS | torch.optim.Optimizer:
        if self.settings.optimizer == "lbfgs":
            # one gradient per step: the loop's iteration is the optimiser's iteration
            return LBFGS(x)
        return torch.optim.Adam([x], lr=0.02)

    def _replay(self, next_iteration: int) -> None:
        """Hand the recorded steering for ``next_iteration`` to the controls, as it arrived live."""
        s = self.settings
        for change in s.schedule:
            if change["iteration"] == next_iteration:
                self.controls.update(**change["weights"])
        if s.stop_after is not None and next_iteration > s.stop_after:
            self.controls.stop()

    def checkpoint(self) -> Checkpoint | None:
        """The state between two iterations (call it while the iterator is paused), or None before any."""
        if self._x is None:
            return None
        return Checkpoint(scale=self._scale_index, iteration=self.iterations_done,
                          image=self._x.detach().float().cpu().clone(), events=[dict(e) for e in self.events],
                          control_version=self._seen_version)

    def run(self, content: Image.Image, styles: Sequence[Image.Image],
            resume: Checkpoint | None = None) -> Iterator[Progress]:
        """Stylise; with ``resume``, continue a run from its checkpoint (same settings and inputs)."""
        if not styles:
            raise SettingError("at least one painting is needed")
        s = self.settings.validate(n_styles=len(styles))
        check_inputs(s, content.size, [st.size for st in styles], sources=False)
        content, styles = final_inputs(s, content, styles)
        generator = torch.Generator().manual_seed(s.seed)  # this run's own: no process-wide seeding
        start = time.perf_counter()
        net = load_backbone(s.backbone, self.device, s.backbone_arch)
        layers = list(s.content_layers or net.content_layers) + list(s.style_layers or net.style_layers)
        net = net.truncated(layers)
        min_side = min_input_side(s.backbone, tuple(layers), s.backbone_arch)
        channels_last = s.channels_last if s.channels_last is not None else self.device.type == "cuda"
        memory_format = torch.channels_last if channels_last else torch.contiguous_format
        if s.style_layer_weights is not None and len(s.style_layer_weights) != len(s.style_layers or net.style_layers):
            raise SettingError(f"{len(s.style_layer_weights)} style layer weights for "
                               f"{len(s.style_layers or net.style_layers)} style layers")

        plan = plan_scales(s.size, s.iterations, s.multiscale, s.min_size,
                           aspect=min(content.size) / max(content.size), min_side=min_side)
        total = sum(n for _, n in plan)
        # colour preservation matches each painting to the photo's colours, measured at the final size
        colour_reference = (images.image_to_tensor(images.resize_long_side(content, s.size))
                            if s.preserve_color else None)
        x: torch.Tensor | None = None
        done = 0
        # a change made before the first iteration is an event of iteration 1, like any other
        self._seen_version = 0
        if resume is not None:
            self.events, self._seen_version = [dict(e) for e in resume.events], resume.control_version
        for scale_index, (side, iters) in enumerate(plan, start=1):
            first = 0
            if resume is not None:
                if scale_index < resume.scale:  # finished before the checkpoint
                    done += iters
                    continue
                if scale_index == resume.scale:
                    first, done = resume.iteration - done, resume.iteration
                    self.iterations_done = done
            self._replay(done + 1)
            if self.controls.stopped and x is not None:  # stopped at the end of a scale: keep that image
                self.stopped = True
                break
            content_img = images.resize_long_side(content, side)
            w, h = content_img.size
            content_t = images.image_to_tensor(content_img, self.device)
            style_ts = []
            for style in styles:
                st = images.image_to_tensor(images.resize_long_side(
                    style, style_long_side(s, side, style.size, min_side)))
                if colour_reference is not None:
                    st = images.match_color(st, colour_reference)
                style_ts.append(st.to(self.device))
            objective = Objective(net, content_t, style_ts, s, self.autocast, memory_format)

            previous = x
            if resume is not None and scale_index == resume.scale:
                x = images.resize_tensor(resume.image, (h, w))
            elif x is None:
                x = self._initial_image(content_t, style_ts[0], generator)
            else:
                x = images.resize_tensor(x.detach(), (h, w))
            x = x.to(self.device).contiguous().detach().requires_grad_(True)
            self._x, self._scale_index = x, scale_index
            optimizer = self.make_optimizer(x)
            scale_start = time.perf_counter()
            for i in range(first, iters):
                self._replay(done + 1)
                if self.controls.stopped:
                    self.stopped = True
                    if i == first and previous is not None:
                        x = previous  # nothing done at this scale: keep the finished one, as between scales
                    break
                version, weights = self.live_weights()
                changed = version != self._seen_version
                if changed:
                    self._seen_version = version
                    optimizer = self.make_optimizer(x)
                    self.events.append({"iteration": done + 1, "weights": plain(weights)})
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
                # one transfer for all the terms: each float() alone would wait for the device
                losses = dict(zip(terms_box, torch.stack([v.detach().float() for v in terms_box.values()]).tolist()))
                self.iteration_seconds.append(time.perf_counter() - t0)
                done += 1
                self.iterations_done = done
                self.losses = losses
                now = time.perf_counter()
                per_iter = (now - scale_start) / (i + 1 - first)
                remaining = (iters - i - 1) * per_iter + sum(
                    n * per_iter * (side2 / side) ** 2 for side2, n in plan[scale_index:])
                last = i == iters - 1 and scale_index == len(plan)
                want_frame = changed or i == 0 or last or (done % s.frame_every == 0)
                yield Progress(
                    iteration=done, total_iterations=total, scale=scale_index, scales=len(plan), size=(w, h),
                    losses=losses, weights=plain(weights), elapsed=now - start, eta=remaining,
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
    content: Image.Image | str | bytes,
    style: Image.Image | str | bytes | Sequence[Image.Image | str | bytes],
    settings: Settings | dict | None = None,
    *,
    callback: Callable[[Progress], None] | None = None,
    controls: Controls | None = None,
    **fields,
) -> Image.Image:
    """Paint ``content`` in the style of ``style`` (one image or several, blended) and return the result.

    Images may be PIL images, paths or encoded bytes. Settings come as a :class:`Settings`, a dict (e.g. a
    result's ``info["settings"]``, which replays that run, steering included) and/or keyword arguments
    named like :class:`Settings`' fields (``size=512, style_weight=20``), which override. ``callback``
    receives a :class:`Progress` after every iteration; ``controls`` lets another thread change the
    weights or stop (the image so far is returned). The returned image's ``info["settings"]`` is the run's
    record: every setting, the seed, the weight changes and where it stopped.
    """
    base = settings.to_dict() if isinstance(settings, Settings) else dict(settings or {})
    unknown = sorted(set(fields) - set(Settings.__dataclass_fields__))
    if unknown:
        raise SettingError(f"unknown setting {', '.join(map(repr, unknown))}")
    run_settings = Settings.from_dict({**base, **fields})
    styles = list(style) if isinstance(style, (list, tuple)) else [style]
    content_img = _as_image(content, "photo")
    style_imgs = [_as_image(s, f"painting {i + 1}" if len(styles) > 1 else "painting") for i, s in enumerate(styles)]
    for img in (content_img, *style_imgs):
        for note in images.notes_of(img):
            warnings.warn(note, stacklevel=2)
    check_inputs(run_settings, content_img.size, [st.size for st in style_imgs])
    run = StyleTransfer(run_settings, controls)
    for progress in run.run(content_img, style_imgs):
        if callback is not None:
            callback(progress)
    result = run.result
    result.info["settings"] = run.record().to_dict()
    return result
