"""Layer chains with Gatys-style names for the torchvision architectures and VGG19's own configuration."""
from __future__ import annotations

from collections import OrderedDict
from typing import Iterable

from torch import nn

VGG19_CFG = [(64, 2), (128, 2), (256, 4), (512, 4), (512, 4)]
VGG16_CFG = [(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)]


def vgg_layers(cfg, pooling: str = "max") -> "OrderedDict[str, nn.Module]":
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    in_ch = 3
    for block, (out_ch, convs) in enumerate(cfg, start=1):
        for i in range(1, convs + 1):
            layers[f"conv{block}_{i}"] = nn.Conv2d(in_ch, out_ch, 3, padding=1)
            layers[f"relu{block}_{i}"] = nn.ReLU(inplace=False)
            in_ch = out_ch
        layers[f"pool{block}"] = nn.MaxPool2d(2, 2) if pooling == "max" else nn.AvgPool2d(2, 2)
    return layers


def vgg_adapters(cfg, teacher_cfg, layers: Iterable[str]) -> dict[str, nn.Module]:
    """1×1 convolutions from ``cfg``'s widths to ``teacher_cfg``'s at ``layers``, where they differ."""
    def width(config, layer: str) -> int:
        return config[int(layer[len("relu")]) - 1][0]

    return {name: nn.Conv2d(width(cfg, name), width(teacher_cfg, name), 1)
            for name in layers if width(cfg, name) != width(teacher_cfg, name)}


def torchvision_vgg_layers(features: nn.Sequential, cfg) -> "OrderedDict[str, nn.Module]":
    """Rename torchvision's ``features`` children (0, 1, 2 ...) to conv1_1, relu1_1, ..."""
    names = list(vgg_layers(cfg).keys())
    modules = list(features.children())
    assert len(names) == len(modules), (len(names), len(modules))
    for m in modules:
        if isinstance(m, nn.ReLU):
            m.inplace = False  # activations are kept for the losses
    return OrderedDict(zip(names, modules))


def alexnet_layers(features: nn.Sequential) -> "OrderedDict[str, nn.Module]":
    names = ["conv1", "relu1", "pool1", "conv2", "relu2", "pool2", "conv3", "relu3",
             "conv4", "relu4", "conv5", "relu5", "pool5"]
    modules = list(features.children())
    for m in modules:
        if isinstance(m, nn.ReLU):
            m.inplace = False
    return OrderedDict(zip(names, modules))


def resnet_layers(model: nn.Module) -> "OrderedDict[str, nn.Module]":
    model.relu.inplace = False
    return OrderedDict([("conv1", model.conv1), ("bn1", model.bn1), ("relu", model.relu),
                        ("maxpool", model.maxpool), ("layer1", model.layer1), ("layer2", model.layer2),
                        ("layer3", model.layer3), ("layer4", model.layer4)])


def googlenet_layers(model: nn.Module) -> "OrderedDict[str, nn.Module]":
    names = ["conv1", "maxpool1", "conv2", "conv3", "maxpool2", "inception3a", "inception3b", "maxpool3",
             "inception4a", "inception4b", "inception4c", "inception4d", "inception4e", "maxpool4",
             "inception5a", "inception5b"]
    return OrderedDict((n, getattr(model, n)) for n in names)

