"""The extractor every backbone is (a frozen chain of named layers and its input convention), and its errors."""
from __future__ import annotations

from collections import OrderedDict
from typing import Iterable

import torch
from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)


class WeightsUnavailable(RuntimeError):
    """Pretrained weights are not here: ``str()`` is the operator's line, ``public`` what a page user is told."""

    def __init__(self, message: str, public: str | None = None):
        super().__init__(message)
        self.public = public or message


class CheckpointError(ValueError):
    """A backbone file that cannot be used; ``str()`` is one line naming the file and what is wrong."""


# --------------------------------------------------------------------------------------------
# Input conventions


class CaffeInput(nn.Module):
    """RGB in [0, 1] -> BGR in [0, 255] minus the ImageNet mean pixel (the Caffe VGG convention)."""

    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.tensor(CAFFE_BGR_MEAN).view(1, 3, 1, 1), persistent=False)

    def forward(self, x):
        return x.flip(1) * 255.0 - self.mean


class AffineInput(nn.Module):
    """RGB in [0, 1] -> (x - mean) / std per channel (torchvision's convention)."""

    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)

    def forward(self, x):
        return (x - self.mean) / self.std


# --------------------------------------------------------------------------------------------
# The extractor


def check_layer_names(backbone: str, available: tuple[str, ...], names: Iterable[str]) -> None:
    """ValueError naming the unknown layers and the ones there are."""
    unknown = [n for n in names if n not in available]
    if unknown:
        raise ValueError(f"backbone {backbone!r} has no layer {', '.join(map(repr, unknown))}; "
                         f"it has: {', '.join(available)}")


class Backbone(nn.Module):
    """A frozen chain of named layers; ``forward(x, layers)`` returns those layers' activations."""

    def __init__(self, name: str, preprocess: nn.Module, layers: "OrderedDict[str, nn.Module]",
                 content_layers: Iterable[str], style_layers: Iterable[str],
                 style_weights: Iterable[float] | None = None, style_loss: str = "gram", style_gain: float = 1.0):
        super().__init__()
        self.name = name
        self.preprocess = preprocess
        self.layers = nn.ModuleDict(layers)
        self.content_layers = tuple(content_layers)
        self.style_layers = tuple(style_layers)
        # the default style layers' weights (None: equal), used where the run names neither layers nor weights
        self.style_weights = tuple(style_weights) if style_weights is not None else None
        # the style loss it paints best with, and the factor on the style weight that makes a slider's value
        # mean the same strength as on VGG19 with that loss; used where the run names no loss
        self.style_loss, self.style_gain = style_loss, style_gain
        self.requires_grad_(False)
        self.eval()

    @property
    def layer_names(self) -> tuple[str, ...]:
        return tuple(self.layers.keys())

    def check_layers(self, names: Iterable[str]) -> None:
        check_layer_names(self.name, self.layer_names, names)

    def truncated(self, names: Iterable[str]) -> "Backbone":
        """The same backbone (shared, not copied, parameters) cut after the deepest of ``names``."""
        names = list(names)
        self.check_layers(names)
        order = self.layer_names
        last = max(order.index(n) for n in names)
        kept = OrderedDict((n, self.layers[n]) for n in order[: last + 1])
        return Backbone(self.name, self.preprocess, kept, self.content_layers, self.style_layers, self.style_weights,
                        self.style_loss, self.style_gain)

    def forward(self, image: torch.Tensor, layers: Iterable[str]) -> dict[str, torch.Tensor]:
        wanted = set(layers)
        out: dict[str, torch.Tensor] = {}
        x = self.preprocess(image)
        for name, module in self.layers.items():
            x = module(x)
            if name in wanted:
                out[name] = x
                if len(out) == len(wanted):
                    break
        return out


class AdaptedBackbone(Backbone):
    """A distilled student whose loss layers pass through 1×1 adapters to the teacher's channel counts."""

    def __init__(self, name: str, preprocess: nn.Module, layers: "OrderedDict[str, nn.Module]",
                 adapters: dict[str, nn.Module], content_layers: Iterable[str], style_layers: Iterable[str]):
        super().__init__(name, preprocess, layers, content_layers, style_layers)
        self.adapters = nn.ModuleDict(adapters)
        self.requires_grad_(False)
        self.eval()

    def truncated(self, names: Iterable[str]) -> "AdaptedBackbone":
        cut = super().truncated(names)
        return AdaptedBackbone(self.name, self.preprocess, OrderedDict(cut.layers.items()),
                               {n: a for n, a in self.adapters.items() if n in cut.layers},
                               self.content_layers, self.style_layers)

    def forward(self, image: torch.Tensor, layers: Iterable[str]) -> dict[str, torch.Tensor]:
        return {name: self.adapters[name](x) if name in self.adapters else x
                for name, x in super().forward(image, layers).items()}

