"""Image sizes: scaling to a long side."""
from __future__ import annotations

from PIL import Image


def long_side_size(wh: tuple[int, int], long_side: int) -> tuple[int, int]:
    """(width, height) of an image of ``wh`` scaled so that its longer side is ``long_side`` px."""
    scale = long_side / max(wh)
    return max(1, round(wh[0] * scale)), max(1, round(wh[1] * scale))


def resize_long_side(img: Image.Image, long_side: int) -> Image.Image:
    """Scale so the longer side is ``long_side`` px (Lanczos when shrinking, bicubic when growing)."""
    size = long_side_size(img.size, long_side)
    scale = long_side / max(img.size)
    if size == img.size:
        return img
    return img.resize(size, Image.Resampling.LANCZOS if scale < 1 else Image.Resampling.BICUBIC)
