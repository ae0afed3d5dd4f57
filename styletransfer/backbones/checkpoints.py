"""Your own networks as backbones: training-script and distillation checkpoints, torchvision state dicts,
TorchScript; a bad file is one :class:`CheckpointError` line."""
from __future__ import annotations

import os
import warnings
from typing import Iterable

import torch
from torch import nn

from .builtin import BACKBONES, VGG_STYLE
from .chains import (VGG16_CFG, VGG19_CFG, alexnet_layers, googlenet_layers, resnet_layers, torchvision_vgg_layers,
                     vgg_adapters, vgg_layers)
from .core import IMAGENET_MEAN, IMAGENET_STD, AdaptedBackbone, AffineInput, Backbone, CaffeInput, CheckpointError, \
    check_layer_names

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
    """A checkpoint file's dict or TorchScript module; a bad file is one :class:`CheckpointError`."""
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
    from .. import nets

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
        self.style_weights = None  # equal, as for any backbone that states none
        self.style_loss, self.style_gain = "gram", 1.0  # Gatys' own, as for any backbone that states none
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
    """VGG19's chain at ``cfg``'s widths, with adapters to VGG19's widths at the loss layers."""
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
    """A backbone from the user's file: a training-script checkpoint, a torchvision ``state_dict`` (``arch``
    names it), or TorchScript."""
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

