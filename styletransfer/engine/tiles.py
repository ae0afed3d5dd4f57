"""Tiled scales: the whole image's objective and gradient computed tile by tile (docs/prints.md)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

import torch

from ..losses import content_sum, gram_input_grad, moments
from .objective import Objective, TargetsInterrupted
from .work import FORWARD_SHARE

__all__ = ["IterationInterrupted", "NetGeometry", "Tile", "TiledObjective", "net_geometry", "tile_grid"]


class IterationInterrupted(Exception):
    """A stop arrived between two tiles of an iteration: the iteration is abandoned, the pixels unchanged."""


@dataclass(frozen=True)
class NetGeometry:
    """A network on its input: each layer's ``strides``, the border ``align``ment and the tile ``margin``."""

    strides: dict
    align: int
    margin: int


def net_geometry(net: torch.nn.Module, layers: tuple[str, ...], device: torch.device) -> NetGeometry:
    """Measured on the network: strides from output shapes, the margin from the deepest layer's gradient reach."""
    side = 256
    while True:
        x = torch.rand(1, 3, side, side, device=device, generator=None, requires_grad=True)
        with torch.enable_grad():
            feats = net(x, layers)
        strides = {l: max(1, round(side / f.shape[-1])) for l, f in feats.items()}
        deepest = max(feats, key=lambda l: strides[l])
        f = feats[deepest]
        f[..., f.shape[-2] // 2, f.shape[-1] // 2].sum().backward()
        reach = x.grad.abs().sum((0, 1)).nonzero()
        centre = (f.shape[-2] // 2) * strides[deepest] + strides[deepest] // 2
        radius = int((reach - centre).abs().max()) + 1
        if radius < side // 2 - 1 or side >= 2048:
            break
        side *= 2  # the gradient reached the input's edge: the field may be wider
    align = max(strides.values())
    return NetGeometry(strides, align, -(-radius // align) * align)


@dataclass(frozen=True)
class Tile:
    """``(top, bottom, left, right)`` of the ``core`` a tile owns and the ``ext`` it reads."""

    core: tuple[int, int, int, int]
    ext: tuple[int, int, int, int]

    def read(self, image: torch.Tensor) -> torch.Tensor:
        t, b, l, r = self.ext
        return image[..., t:b, l:r]

    def core_of(self, features: torch.Tensor, stride: int) -> torch.Tensor:
        """The positions of a layer's features (computed on ``ext``) that this tile owns."""
        (t, b, l, r), (et, eb, el, er) = self.core, self.ext
        bottom = features.shape[-2] if b == eb else (b - et) // stride
        right = features.shape[-1] if r == er else (r - el) // stride
        return features[..., (t - et) // stride:bottom, (l - el) // stride:right]


def _cuts(length: int, core: int, offset: int) -> list[int]:
    first = offset % core or core
    return [0, *range(first, length, core), length]


def tile_grid(height: int, width: int, core: int, margin: int, offset: tuple[int, int] = (0, 0)) -> list[list[Tile]]:
    """Rows of tiles: borders every ``core`` px from ``offset``, each reading ``margin`` px more (clipped)."""
    ys, xs = _cuts(height, core, offset[0]), _cuts(width, core, offset[1])
    return [[Tile((t, b, l, r),
                  (max(0, t - margin), min(height, b + margin), max(0, l - margin), min(width, r + margin)))
             for l, r in zip(xs, xs[1:])] for t, b in zip(ys, ys[1:])]



def pixels_read(height: int, width: int, core: int, margin: int) -> int:
    """Pixels one pass over ``core``-px tiles reads, margins included."""
    return sum((t.ext[1] - t.ext[0]) * (t.ext[3] - t.ext[2]) for row in tile_grid(height, width, core, margin)
               for t in row)


def tiled_work_factor(height: int, width: int, core: int, margin: int) -> float:
    """An iteration in ``core``-px tiles over an untiled one: two forwards and a backward, margins included."""
    return (1 + FORWARD_SHARE) * pixels_read(height, width, core, margin) / (height * width)

class _KnownGradient(torch.autograd.Function):
    """``value``, whose gradient with respect to ``x`` was computed already (tile by tile)."""

    @staticmethod
    def forward(ctx, x, value, grad):
        ctx.save_for_backward(grad)
        return value.detach().clone()

    @staticmethod
    def backward(ctx, upstream):
        (grad,) = ctx.saved_tensors
        return grad.mul_(upstream), None, None


class TiledObjective(Objective):
    """:class:`Objective` over tiles of ``core`` px; ``first_call``: where a resumed scale's grid goes on."""

    def __init__(self, *args, core: int, geometry: NetGeometry, band_rows: int = 256, first_call: int = 0,
                 before_pass: Callable[[], None] = lambda: None, **kwargs):
        self.core, self.geometry, self.band_rows, self.calls = core, geometry, band_rows, first_call
        self.before_pass = before_pass  # called before each tile's pass through the network
        self._stopped = kwargs.get("stopped", lambda: False)
        super().__init__(*args, **kwargs)

    # ---------------------------------------------------------------- geometry

    def grid(self, image: torch.Tensor, shift: bool = True) -> list[list[Tile]]:
        """The targets' grid; with ``shift``, the iteration's, half a core off on odd calls."""
        align = self.geometry.align
        half = self.core // 2 // align * align if shift and self.calls % 2 else 0
        return tile_grid(image.shape[-2], image.shape[-1], self.core, self.geometry.margin, (half, half))

    def pixels_read(self, height: int, width: int) -> int:
        """Pixels one pass reads at this size, margins included."""
        return pixels_read(height, width, self.core, self.geometry.margin)

    def _tiles(self, image: torch.Tensor, shift: bool = True,
               grad: bool = False) -> Iterator[tuple[Tile, torch.Tensor, dict]]:
        """Each tile's pixels and its features at every layer in use (``grad``: a leaf for the gradient)."""
        for row in self.grid(image, shift):
            for tile in row:
                if self._stopped():
                    raise IterationInterrupted if shift else TargetsInterrupted
                self.before_pass()
                x = tile.read(image).detach().requires_grad_(grad)
                with torch.set_grad_enabled(grad):
                    feats = self.features(x)
                yield tile, x, feats
                del x, feats  # the consumers drop theirs too: the next tile's pass runs alone, as planned

    # ---------------------------------------------------------------- targets, read in tiles

    def content_maps(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        rows: dict[int, dict[str, list[torch.Tensor]]] = {}  # by the top of the row: the cores, left to right
        for tile, _, feats in self._tiles(image, shift=False):
            crops = rows.setdefault(tile.core[0], {l: [] for l in self.content_layers})
            for l in self.content_layers:  # a copy of the core: a view would keep the margins' features too
                crops[l].append(tile.core_of(feats[l], self.geometry.strides[l]).clone())
        return {l: torch.cat([torch.cat(r[l], -1) for r in rows.values()], -2) for l in self.content_layers}

    def style_targets(self, image: torch.Tensor) -> dict:
        sums, _ = self._pass_one(image, shift=False, content=False)
        return {l: self.loss_cls.target_from_moments(*sums[l]) for l in self.style_layers}

    def _pass_one(self, image: torch.Tensor, shift: bool = True, content: bool = True) -> tuple[dict, dict]:
        """The image's feature moments per style layer and (``content``) content errors, summed over the cores."""
        style_sums: dict[str, list] = {l: [0.0, 0.0, 0] for l in self.style_layers}
        content_sums = {l: 0.0 for l in self.content_losses} if content else {}
        for tile, _, feats in self._tiles(image, shift):
            for l in self.style_layers:
                for k, part in enumerate(moments(tile.core_of(feats[l], self.geometry.strides[l]))):
                    style_sums[l][k] = style_sums[l][k] + part
            for l in content_sums:
                core = tile.core_of(feats[l], self.geometry.strides[l])
                target = self._target_crop(self.content_losses[l].target, tile, l, image)
                content_sums[l] = content_sums[l] + content_sum(core, target)
            del feats
        return style_sums, content_sums

    # ---------------------------------------------------------------- one evaluation: two passes

    def __call__(self, image: torch.Tensor, weights: dict) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        style_sums, content_sums = self._pass_one(image)
        # the losses as functions of the whole image's moments, and their gradients with respect to them
        n_content = len(self.content_losses)
        content = sum(content_sums[l] * loss.scale for l, loss in self.content_losses.items()) / n_content
        layer_weights = self._layer_weights(weights)
        leaves = {l: (s1.detach().requires_grad_(), s2.detach().requires_grad_(), n)
                  for l, (s1, s2, n) in style_sums.items()}
        with torch.enable_grad():
            style = sum(w * self.style_losses[l].from_moments(*leaves[l])
                        for w, l in zip(layer_weights, self.style_layers))
            (weights["style_weight"] * self.style_gain * style).backward()
        grad = self._pass_two(image, {l: (s1.grad, s2.grad) for l, (s1, s2, _) in leaves.items()},
                              weights["content_weight"] / n_content)
        tv = self._tv_into(image, grad, weights["tv_weight"])
        total = (weights["content_weight"] * content + weights["style_weight"] * self.style_gain * style.detach()
                 + weights["tv_weight"] * tv)
        self.calls += 1
        return _KnownGradient.apply(image, total, grad), {"content": content, "style": style.detach(), "tv": tv}

    def _pass_two(self, image: torch.Tensor, style_grads: dict, content_factor: float) -> torch.Tensor:
        """The gradient of content + style with respect to the pixels, tile by tile, the moments' gradients fixed."""
        grad = torch.zeros_like(image, dtype=torch.float32)
        for tile, x, feats in self._tiles(image, grad=True):
            torch.autograd.backward(list(feats.values()),
                                    [self._feature_grad(f, tile, l, style_grads.get(l), content_factor, image)
                                     for l, f in feats.items()])
            top, bottom, left, right = tile.ext
            grad[..., top:bottom, left:right] += x.grad
            del x, feats
        return grad

    def _feature_grad(self, f: torch.Tensor, tile: Tile, layer: str, style_grad, content_factor: float,
                      image: torch.Tensor) -> torch.Tensor:
        """d loss / d features of one layer on one tile, zero in the margin, in the features' dtype."""
        stride = self.geometry.strides[layer]
        core = tile.core_of(f, stride)
        g_core = torch.zeros_like(core)
        if style_grad is not None:
            d1, d2 = style_grad
            g_core += gram_input_grad(core, d2[None])
            if d1 is not None:  # a loss of the mean too (W2), not of the Gram alone
                g_core += d1.to(f.dtype).view(1, -1, 1, 1)
        if layer in self.content_losses:
            loss = self.content_losses[layer]
            diff = core.float() - self._target_crop(loss.target, tile, layer, image).float()
            g_core += (2 * content_factor * loss.scale * diff).to(f.dtype)
        g = torch.zeros_like(f)
        tile.core_of(g, stride).copy_(g_core)
        return g

    def _target_crop(self, target: torch.Tensor, tile: Tile, layer: str, image: torch.Tensor) -> torch.Tensor:
        """The content target's positions that ``tile`` owns (the target is the whole image's map)."""
        whole = Tile(tile.core, (0, image.shape[-2], 0, image.shape[-1]))
        return whole.core_of(target, self.geometry.strides[layer])

    def _tv_into(self, image: torch.Tensor, grad: torch.Tensor, weight: float) -> torch.Tensor:
        """Mean TV of the image, summed in bands of rows; its gradient × ``weight`` is added to ``grad``."""
        _, c, h, w = image.shape
        pairs = max(c * ((h - 1) * w + h * (w - 1)), 1)
        total = torch.zeros((), device=image.device)
        for top in range(0, h, self.band_rows):
            bottom = min(top + self.band_rows, h)
            band = image[..., top:min(bottom + 1, h), :].detach().float().requires_grad_()
            with torch.enable_grad():
                dy = band[..., 1:, :] - band[..., :-1, :]
                dx = band[..., :bottom - top, 1:] - band[..., :bottom - top, :-1]
                part = dy.pow(2).sum() + dx.pow(2).sum()
                part.backward()
            grad[..., top:min(bottom + 1, h), :] += band.grad * (weight / pairs)
            total += part.detach()
        return total / pairs
