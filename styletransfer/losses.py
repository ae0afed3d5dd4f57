"""The loss terms of Gatys et al. as small modules: content, style (Gram or W2), total variation (docs/maths.md)."""
from __future__ import annotations

import torch
from torch import nn

__all__ = [
    "ContentLoss",
    "GramStyleLoss",
    "WassersteinStyleLoss",
    "content_sum",
    "gram_input_grad",
    "gram_matrix",
    "moments",
    "style_sum",
    "tv_mean",
    "tv_sum",
]


def positions_by_channels(features: torch.Tensor) -> torch.Tensor:
    """Features (B, C, H, W) as (B, H·W, C): a view, no copy, when they are channels_last (the CPU's fast format)."""
    b, c, h, w = features.shape
    if features.is_contiguous():
        return features.flatten(2).transpose(1, 2)
    return features.permute(0, 2, 3, 1).reshape(b, h * w, c)


class _Gram(torch.autograd.Function):
    """``G = Fᵀ F`` of positions × channels in float32 with a one-matmul backward; bf16 features multiplied
    in bf16, not copied; the gradient in the features' own memory format (no transposing copy either way)."""

    @staticmethod
    def forward(ctx, features):  # (B, C, H, W)
        ctx.save_for_backward(features)
        f = positions_by_channels(features)
        if f.dtype == torch.float32 or f.shape[0] != 1:
            f32 = f.float()
            return f32.transpose(1, 2) @ f32
        flat = f[0]
        return (flat.t() @ flat).float().unsqueeze(0)

    @staticmethod
    def backward(ctx, grad):
        (features,) = ctx.saved_tensors
        return gram_input_grad(features, grad)


def gram_input_grad(features: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    """``(G' + G'ᵀ) F``: the gradient at features (B, C, H, W) of a loss whose gradient at their Gram is
    ``grad`` (B, C, C), in the features' dtype and memory format."""
    b, c, h, w = features.shape
    both = (grad + grad.transpose(-2, -1)).to(features.dtype)
    if features.is_contiguous():
        return (both @ features.flatten(2)).view_as(features)
    rows = positions_by_channels(features) @ both  # (B, H·W, C), C varying fastest: channels_last
    return rows.reshape(b, h, w, c).permute(0, 3, 1, 2)


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """``G_ij = Σ_k F_ik F_jk`` for features (B, C, H, W) -> (B, C, C), computed in float32."""
    return _Gram.apply(features)


def moments(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
    """``(Σ F, Σ F Fᵀ, positions)`` of features (1, C, H, W) in fp32: a style loss's inputs, summed over tiles."""
    positions = features.shape[-2] * features.shape[-1]
    return features.sum((0, 2, 3), dtype=torch.float32), gram_matrix(features)[0], positions


def content_sum(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Unnormalised content loss ``Σ (F − P)²``."""
    return (features.float() - target.float()).pow(2).sum()


def style_sum(features: torch.Tensor, target_gram: torch.Tensor) -> torch.Tensor:
    """Unnormalised style loss of one layer ``Σ_ij (G_ij − A_ij)²``."""
    return (gram_matrix(features) - target_gram).pow(2).sum()


def tv_sum(image: torch.Tensor) -> torch.Tensor:
    """Unnormalised total variation: squared vertical + horizontal neighbour differences, all channels."""
    dy = image[..., 1:, :] - image[..., :-1, :]
    dx = image[..., :, 1:] - image[..., :, :-1]
    return dy.pow(2).sum() + dx.pow(2).sum()


def tv_mean(image: torch.Tensor) -> torch.Tensor:
    """:func:`tv_sum` divided by the number of neighbour pairs (see the module docstring)."""
    *_, h, w = image.shape
    pairs = image.numel() // (h * w) * ((h - 1) * w + h * (w - 1))
    return tv_sum(image.float()) / max(pairs, 1)


class ContentLoss(nn.Module):
    """Relative squared error ``Σ (F − P)² / Σ P²`` against fixed content features ``P``."""

    def __init__(self, target: torch.Tensor):
        super().__init__()
        # kept in the features' own dtype (bf16 under bf16: the same values in half the memory of a print);
        # its energy summed in float32 a few channels at a time, with no float32 copy of the whole map
        self.register_buffer("target", target.detach())
        energy = sum(part.float().pow(2).sum() for part in self.target.split(16, dim=1))
        self.register_buffer("scale", 1.0 / torch.as_tensor(energy).clamp_min(1e-8))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return content_sum(features, self.target) * self.scale


class GramStyleLoss(nn.Module):
    """``Σ (G − A)² / Σ A²`` of position-normalised Gram matrices; ``target`` is ``A / (H·W)``, and blends
    average targets."""

    def __init__(self, target: torch.Tensor):
        super().__init__()
        self.register_buffer("target", target.detach().float())
        self.register_buffer("scale", 1.0 / self.target.pow(2).sum().clamp_min(1e-12))

    @staticmethod
    def target_of(features: torch.Tensor) -> torch.Tensor:
        return gram_matrix(features) / (features.shape[-2] * features.shape[-1])

    @staticmethod
    def blend(targets: list[torch.Tensor], weights: list[float]) -> torch.Tensor:
        total = sum(weights)
        return sum(t * (w / total) for t, w in zip(targets, weights))

    @staticmethod
    def target_from_moments(s1: torch.Tensor, s2: torch.Tensor, n: int) -> torch.Tensor:
        return (s2 / n).unsqueeze(0)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return (self.target_of(features) - self.target).pow(2).sum() * self.scale

    def from_moments(self, s1: torch.Tensor, s2: torch.Tensor, n: int) -> torch.Tensor:
        """The loss of features whose :func:`moments` are these (a tiled image's)."""
        return (self.target_from_moments(s1, s2, n) - self.target).pow(2).sum() * self.scale


class WassersteinStyleLoss(nn.Module):
    """Squared W2 distance between Gaussians fitted to the features, relative to ``|μs|² + tr Σs``."""

    def __init__(self, target: tuple[torch.Tensor, torch.Tensor]):
        super().__init__()
        mean, cov = target
        self.register_buffer("mean", mean.detach().float())
        self.register_buffer("cov", cov.detach().float())
        self.register_buffer("cov_sqrt", _psd_sqrt(self.cov))
        self.register_buffer("scale", 1.0 / (self.mean.pow(2).sum() + self.cov.diagonal(dim1=-2, dim2=-1).sum())
                             .clamp_min(1e-12))

    @staticmethod
    def target_of(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return _mean_cov(features)

    @staticmethod
    def blend(targets, weights):
        total = sum(weights)
        mean = sum(t[0] * (w / total) for t, w in zip(targets, weights))
        cov = sum(t[1] * (w / total) for t, w in zip(targets, weights))
        return mean, cov

    @staticmethod
    def target_from_moments(s1: torch.Tensor, s2: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        mean = s1 / n
        return mean, s2 / n - torch.outer(mean, mean)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self._distance(*_mean_cov(features))

    def from_moments(self, s1: torch.Tensor, s2: torch.Tensor, n: int) -> torch.Tensor:
        """The loss of features whose :func:`moments` are these (a tiled image's)."""
        return self._distance(*self.target_from_moments(s1, s2, n))

    def _distance(self, mean: torch.Tensor, cov: torch.Tensor) -> torch.Tensor:
        cross = self.cov_sqrt @ cov @ self.cov_sqrt
        # tr(sqrt(M)) = Σ sqrt(eigenvalues); eigvalsh is differentiable, clamp keeps sqrt's gradient finite
        eig = torch.linalg.eigvalsh(cross.double()).clamp_min(1e-10).float()
        trace = cov.diagonal(dim1=-2, dim2=-1).sum() + self.cov.diagonal(dim1=-2, dim2=-1).sum() - 2 * eig.sqrt().sum()
        return ((mean - self.mean).pow(2).sum() + trace) * self.scale


def _mean_cov(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    f = features.float().flatten(2)[0]  # C x N
    mean = f.mean(1)
    centred = f - mean[:, None]
    return mean, centred @ centred.T / f.shape[1]


def _psd_sqrt(matrix: torch.Tensor) -> torch.Tensor:
    vals, vecs = torch.linalg.eigh(matrix.double())
    return ((vecs * vals.clamp_min(0).sqrt()) @ vecs.T).float()
