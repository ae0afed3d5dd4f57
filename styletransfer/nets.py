"""Our own architecture: a ResNeXt family with the "Bag of Tricks" refinements, every stage a named layer."""
from __future__ import annotations

import dataclasses
from collections import OrderedDict
from dataclasses import dataclass

from torch import nn

__all__ = ["PRESETS", "NetConfig", "ResNeXt", "build_net", "feature_layers"]


@dataclass(frozen=True)
class NetConfig:
    depths: tuple[int, ...] = (1, 1, 1, 1)       # blocks per stage
    widths: tuple[int, ...] = (64, 128, 256, 512)  # output channels per stage
    cardinality: int = 8                          # groups of the 3×3 convolution (1: ResNet)
    bottleneck: float = 0.5                       # inner channels = width × bottleneck
    stem_width: int = 32
    dropout: float = 0.2
    num_classes: int = 1000

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, values: dict) -> "NetConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - names
        if unknown:
            raise ValueError(f"unknown architecture fields {', '.join(sorted(unknown))}")
        return cls(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in values.items()})


PRESETS: dict[str, NetConfig] = {
    "resnext-tiny": NetConfig(depths=(1, 1, 1, 1), widths=(32, 64, 128, 256), cardinality=8, stem_width=16),
    "resnext-small": NetConfig(depths=(2, 2, 2, 2), widths=(64, 128, 256, 512), cardinality=16, stem_width=32),
    "resnext50-32x4d": NetConfig(depths=(3, 4, 6, 3), widths=(256, 512, 1024, 2048), cardinality=32,
                                 bottleneck=0.5, stem_width=64),
    "resnet50-d": NetConfig(depths=(3, 4, 6, 3), widths=(256, 512, 1024, 2048), cardinality=1,
                            bottleneck=0.25, stem_width=64),
}


def conv_bn(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1, relu: bool = True) -> nn.Sequential:
    layers = [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class Bottleneck(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, cardinality: int, bottleneck: float):
        super().__init__()
        groups = max(1, min(cardinality, cout))
        inner = max(groups, int(round(cout * bottleneck / groups)) * groups)  # a multiple of the groups
        self.body = nn.Sequential(
            conv_bn(cin, inner, 1),
            conv_bn(inner, inner, 3, stride, groups=groups),
            conv_bn(inner, cout, 1, relu=False),
        )
        nn.init.zeros_(self.body[-1][1].weight)  # zero-init the last BN: the block starts as identity
        if stride != 1 or cin != cout:
            pool = nn.AvgPool2d(stride, stride, ceil_mode=True, count_include_pad=False) if stride > 1 else nn.Identity()
            self.shortcut = nn.Sequential(pool, nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout))
        else:
            self.shortcut = nn.Identity()
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.relu(self.body(x) + self.shortcut(x))


class ResNeXt(nn.Module):
    def __init__(self, config: NetConfig):
        super().__init__()
        self.config = config
        s = config.stem_width
        self.stem = nn.Sequential(conv_bn(3, s // 2, 3, 2), conv_bn(s // 2, s // 2, 3), conv_bn(s // 2, s, 3))
        self.pool = nn.MaxPool2d(3, 2, 1)
        cin = s
        for i, (depth, width) in enumerate(zip(config.depths, config.widths), start=1):
            blocks = [Bottleneck(cin if b == 0 else width, width, 2 if (b == 0 and i > 1) else 1,
                                 config.cardinality, config.bottleneck) for b in range(depth)]
            setattr(self, f"stage{i}", nn.Sequential(*blocks))
            cin = width
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(config.dropout),
                                  nn.Linear(cin, config.num_classes))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    @property
    def stage_names(self) -> list[str]:
        return [f"stage{i}" for i in range(1, len(self.config.depths) + 1)]

    def forward(self, x):
        x = self.pool(self.stem(x))
        for name in self.stage_names:
            x = getattr(self, name)(x)
        return self.head(x)


def build_net(arch: str | NetConfig, num_classes: int | None = None) -> ResNeXt:
    config = PRESETS[arch] if isinstance(arch, str) else arch
    if num_classes is not None:
        config = dataclasses.replace(config, num_classes=num_classes)
    return ResNeXt(config)


def feature_layers(net: ResNeXt) -> "OrderedDict[str, nn.Module]":
    """The named chain a style-transfer backbone runs: ``stem``, ``pool``, ``stage1`` … (no head)."""
    for m in net.modules():
        if isinstance(m, nn.ReLU):
            m.inplace = False  # activations are kept for the losses
    return OrderedDict([("stem", net.stem), ("pool", net.pool)] + [(n, getattr(net, n)) for n in net.stage_names])


DEFAULT_CONTENT_LAYERS = ("stage3",)
DEFAULT_STYLE_LAYERS = ("stem", "stage1", "stage2", "stage3")
