"""Texture-like images drawn here (stripes, checks, dots, waves, scribbles, bricks): the demo classes a
newcomer trains on offline in minutes, and part of what a distillation sees."""
from __future__ import annotations

import math
import os

import numpy as np
from PIL import Image, ImageDraw, ImageFilter


def _palette(rng) -> list[tuple[int, int, int]]:
    base = rng.integers(0, 256, 3)
    return [tuple(int(v) for v in np.clip(base + rng.normal(0, 60, 3), 0, 255)) for _ in range(4)]


def draw_texture(kind: str, size: int, rng) -> Image.Image:
    colours = _palette(rng)
    img = Image.new("RGB", (size * 2, size * 2), colours[0])
    d = ImageDraw.Draw(img)
    s2 = size * 2
    if kind == "stripes":
        step = int(rng.integers(6, 18))
        for x in range(-s2, 2 * s2, step):
            d.line([(x, 0), (x + s2 * rng.uniform(-0.3, 0.3), s2)], fill=colours[1], width=step // 2)
    elif kind == "checks":
        step = int(rng.integers(8, 24))
        for y in range(0, s2, step):
            for x in range(0, s2, step):
                if (x // step + y // step) % 2:
                    d.rectangle([x, y, x + step - 1, y + step - 1], fill=colours[1])
    elif kind == "dots":
        r = rng.uniform(2, 7)
        for _ in range(int(s2 * s2 / (r * r * 18))):
            x, y = rng.uniform(0, s2, 2)
            d.ellipse([x - r, y - r, x + r, y + r], fill=colours[int(rng.integers(1, 4))])
    elif kind == "waves":
        period, amp = rng.uniform(10, 30), rng.uniform(3, 10)
        for y0 in range(0, s2, int(rng.integers(6, 14))):
            pts = [(x, y0 + amp * math.sin(x / period * 2 * math.pi)) for x in range(0, s2, 3)]
            d.line(pts, fill=colours[1 + y0 % 3], width=3)
    elif kind == "scribbles":
        for _ in range(40):
            pts = [tuple(rng.uniform(0, s2, 2))]
            for _ in range(6):
                pts.append((pts[-1][0] + rng.normal(0, 14), pts[-1][1] + rng.normal(0, 14)))
            d.line(pts, fill=colours[int(rng.integers(1, 4))], width=int(rng.integers(1, 4)))
    elif kind == "bricks":
        bw, bh = int(rng.integers(16, 30)), int(rng.integers(8, 14))
        for row, y in enumerate(range(0, s2, bh)):
            offset = (row % 2) * bw // 2
            for x in range(-bw, s2, bw):
                d.rectangle([x + offset + 1, y + 1, x + offset + bw - 2, y + bh - 2], fill=colours[1 + row % 2])
    else:
        raise ValueError(kind)
    img = img.rotate(float(rng.uniform(0, 360)), resample=Image.Resampling.BILINEAR, fillcolor=colours[0])
    img = img.crop((size // 2, size // 2, size // 2 + size, size // 2 + size))
    return img.filter(ImageFilter.GaussianBlur(float(rng.uniform(0, 0.8))))


DEMO_CLASSES = ("bricks", "checks", "dots", "scribbles", "stripes", "waves")


def make_demo_data(folder: str, per_class: int = 400, val_per_class: int = 50, size: int = 72, seed: int = 0) -> None:
    """Write ``folder/train/<class>/*.png`` and ``folder/val/<class>/*.png`` of drawn textures."""
    rng = np.random.default_rng(seed)
    for split, count in (("train", per_class), ("val", val_per_class)):
        for kind in DEMO_CLASSES:
            out = os.path.join(folder, split, kind)
            os.makedirs(out, exist_ok=True)
            for i in range(count):
                draw_texture(kind, size, rng).save(os.path.join(out, f"{kind}-{i:04d}.png"))
