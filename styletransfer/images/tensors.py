"""Images as tensors: conversion, resizing, colour matching."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image


def image_to_tensor(img: Image.Image, device="cpu") -> torch.Tensor:
    """RGB PIL image -> float tensor (1, 3, H, W) in [0, 1]."""
    arr = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(arr).permute(2, 0, 1).unsqueeze(0).contiguous().to(device)


def tensor_to_image(x: torch.Tensor) -> Image.Image:
    """(1, 3, H, W) or (3, H, W) tensor in [0, 1] -> RGB PIL image (clamped, rounded)."""
    x = x.detach()
    if x.dim() == 4:
        x = x[0]
    arr = (x.float().clamp(0, 1) * 255.0).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
    return Image.fromarray(np.ascontiguousarray(arr), "RGB")


def resize_tensor(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize a (1, 3, H, W) image tensor to (h, w) with antialiasing when shrinking."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    shrinking = size[0] < x.shape[-2]
    return F.interpolate(x, size=size, mode="bicubic", align_corners=False, antialias=shrinking).clamp(0, 1)


def match_color(source: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """``source`` with the mean and covariance of ``reference``'s RGB (colour preservation)."""
    def stats(x):
        flat = x.double().flatten(2)[0]  # 3 x N
        mean = flat.mean(1, keepdim=True)
        centred = flat - mean
        cov = centred @ centred.T / flat.shape[1] + torch.eye(3, dtype=flat.dtype) * 1e-5
        return flat, mean, cov

    src, src_mean, src_cov = stats(source)
    _, ref_mean, ref_cov = stats(reference)

    def sqrt_and_inv(m):
        vals, vecs = torch.linalg.eigh(m)
        vals = vals.clamp_min(1e-8)
        return (vecs * vals.sqrt()) @ vecs.T, (vecs * vals.rsqrt()) @ vecs.T

    ref_sqrt, _ = sqrt_and_inv(ref_cov)
    _, src_inv_sqrt = sqrt_and_inv(src_cov)
    out = ref_sqrt @ src_inv_sqrt @ (src - src_mean) + ref_mean
    return out.reshape(source.shape).to(source.dtype).clamp(0, 1)
