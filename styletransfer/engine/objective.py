"""The objective at one scale: content + Gram (or W2) style over several layers + total variation, with
the targets computed once from the photo and the paintings."""
from __future__ import annotations

import contextlib
from typing import Callable, Sequence

import torch

from ..backbones import Backbone
from ..losses import ContentLoss, GramStyleLoss, WassersteinStyleLoss, tv_mean
from ..settings import Settings

__all__ = ["Objective", "TargetsInterrupted"]

class TargetsInterrupted(Exception):
    """A stop arrived while the paintings' targets were being computed."""


class Objective:
    """content + style + TV at one image size, its targets computed once."""

    def __init__(self, net: Backbone, content: torch.Tensor, styles: list[torch.Tensor], settings: Settings,
                 autocast: Callable[[], contextlib.AbstractContextManager],
                 memory_format: torch.memory_format = torch.contiguous_format,
                 stopped: Callable[[], bool] = lambda: False):
        self.net = net
        self.autocast = autocast
        self.memory_format = memory_format
        self.content_layers = tuple(settings.content_layers or net.content_layers)
        self.style_layers = tuple(settings.style_layers or net.style_layers)
        # the backbone's own layer weights go with its own layers; layers the run names weigh equally
        self.default_layer_weights = (net.style_weights if settings.style_layers is None else None) \
            or [1.0] * len(self.style_layers)
        self.layers = tuple(dict.fromkeys(self.content_layers + self.style_layers))
        # the backbone's own loss comes with its own gain; a loss the run names is taken as it is
        loss_name = settings.style_loss or net.style_loss
        self.style_gain = net.style_gain if settings.style_loss is None else 1.0
        self.loss_cls = GramStyleLoss if loss_name == "gram" else WassersteinStyleLoss
        blend = list(settings.style_blend or [1.0] * len(styles))
        with torch.no_grad():
            content_maps = self.content_maps(content)
            per_style = []
            for style in styles:
                if stopped():
                    raise TargetsInterrupted
                per_style.append(self.style_targets(style))
        self.content_losses = {l: ContentLoss(content_maps[l]) for l in self.content_layers}
        self.style_losses = {
            l: self.loss_cls(self.loss_cls.blend([targets[l] for targets in per_style], blend))
            for l in self.style_layers
        }

    def content_maps(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """The photo's features at the content layers: the content targets."""
        feats = self.features(image)
        return {l: feats[l] for l in self.content_layers}

    def style_targets(self, image: torch.Tensor) -> dict:
        """A painting's style targets at each style layer (what the style loss compares with)."""
        feats = self.features(image)
        return {l: self.loss_cls.target_of(feats[l]) for l in self.style_layers}

    def features(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        # The pixels stay a plain contiguous tensor (L-BFGS flattens them with view()); the network
        # sees them in its memory format, so it runs channels_last end to end where that is chosen.
        with self.autocast():
            return self.net(image.contiguous(memory_format=self.memory_format), self.layers)

    def __call__(self, image: torch.Tensor, weights: dict) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        feats = self.features(image)
        content = sum(loss(feats[l]) for l, loss in self.content_losses.items()) / len(self.content_losses)
        style = sum(w * loss(feats[l]) for w, (l, loss) in zip(self._layer_weights(weights), self.style_losses.items()))
        tv = tv_mean(image)
        total = (weights["content_weight"] * content + weights["style_weight"] * self.style_gain * style
                 + weights["tv_weight"] * tv)
        return total, {"content": content, "style": style, "tv": tv}

    def _layer_weights(self, weights: dict) -> list[float]:
        """The style layers' weights in force (a live change, else the default), summing to 1."""
        return _per_layer(weights.get("style_layer_weights") or self.default_layer_weights, len(self.style_layers))


def _per_layer(weights: Sequence[float], n: int) -> list[float]:
    """Layer weights normalised to sum 1; a short list repeats its last value."""
    w = list(weights)[:n] + [list(weights)[-1]] * max(0, n - len(weights))
    total = sum(w)
    return [x / total for x in w]
