"""Built-in example images: drawn paintings, and matplotlib's public-domain photos."""
from __future__ import annotations

import functools
import math

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

__all__ = ["EXAMPLES", "example_image"]


def swirls(size: int = 384, seed: int = 1) -> Image.Image:
    """Short thick strokes that follow a field of vortices, in night blues and star yellows."""
    rng = np.random.default_rng(seed)
    w, h = size, int(size * 0.8)
    img = Image.new("RGB", (w, h), (18, 38, 92))
    draw = ImageDraw.Draw(img)
    vortices = [(rng.uniform(0, w), rng.uniform(0, h * 0.7), rng.choice([-1, 1]) * rng.uniform(0.6, 1.4))
                for _ in range(5)]
    palette = [(25, 55, 130), (40, 80, 160), (70, 120, 190), (110, 160, 210), (230, 200, 70),
               (250, 230, 120), (245, 245, 220), (20, 35, 70), (60, 100, 60)]
    weights = np.array([5, 6, 5, 3, 2, 1.5, 1, 3, 1.0])
    weights /= weights.sum()

    def direction(x, y):
        vx, vy = 1.0, 0.15 * math.sin(y / 23.0)
        for cx, cy, s in vortices:
            dx, dy = x - cx, y - cy
            r2 = dx * dx + dy * dy + 400.0
            vx += -s * dy * 900.0 / r2
            vy += s * dx * 900.0 / r2
        n = math.hypot(vx, vy) or 1.0
        return vx / n, vy / n

    for _ in range(int(size * size / 60)):
        x, y = rng.uniform(0, w), rng.uniform(0, h)
        colour = palette[rng.choice(len(palette), p=weights)]
        jitter = tuple(int(np.clip(c + rng.normal(0, 12), 0, 255)) for c in colour)
        points = [(x, y)]
        for _ in range(rng.integers(4, 9)):
            dx, dy = direction(x, y)
            x, y = x + dx * 4.0, y + dy * 4.0
            points.append((x, y))
        draw.line(points, fill=jitter, width=int(rng.integers(3, 6)), joint="curve")
    # a few bright "stars" with halos
    for _ in range(6):
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h * 0.6), rng.uniform(8, 20)
        for k in range(4, 0, -1):
            rr = r * k / 2
            tone = (250, 230 - 15 * k, 110 + 20 * (4 - k))
            draw.ellipse([cx - rr, cy - rr, cx + rr, cy + rr], outline=tone, width=3)
    return img.filter(ImageFilter.SMOOTH)


def mosaic(size: int = 384, seed: int = 2) -> Image.Image:
    """Stained glass: Voronoi cells in saturated colours with dark lead lines."""
    rng = np.random.default_rng(seed)
    w, h = size, size
    n = 140
    pts = rng.uniform(0, 1, (n, 2)) * [w, h]
    palette = np.array([(200, 30, 40), (240, 170, 30), (30, 90, 180), (30, 150, 90), (120, 40, 150),
                        (240, 220, 160), (230, 100, 30), (20, 160, 190)], dtype=np.float32)
    colours = palette[rng.integers(0, len(palette), n)] + rng.normal(0, 15, (n, 3))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    d = (xx[..., None] - pts[:, 0]) ** 2 + (yy[..., None] - pts[:, 1]) ** 2
    order = np.argsort(d, axis=-1)[..., :2]
    nearest = np.take_along_axis(d, order, -1)
    edge = np.sqrt(nearest[..., 1]) - np.sqrt(nearest[..., 0]) < 3.0
    shade = 0.85 + 0.15 * np.sin(xx / 9.0) * np.cos(yy / 11.0)
    arr = colours[order[..., 0]] * shade[..., None]
    arr[edge] = (25, 20, 20)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")


def landscape(size: int = 384, seed: int = 3) -> Image.Image:
    """A plain photo-like scene: sky, sun, hills, a lake and trees (smooth, with soft detail)."""
    rng = np.random.default_rng(seed)
    w, h = size, int(size * 0.75)
    y = np.linspace(0, 1, h)[:, None, None]
    sky = (1 - y) * np.array([90, 150, 230]) + y * np.array([200, 225, 245])
    arr = np.broadcast_to(sky, (h, w, 3)).astype(np.float32).copy()
    img = Image.fromarray(arr.astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(img)
    draw.ellipse([w * 0.68, h * 0.12, w * 0.80, h * 0.28], fill=(255, 236, 170))
    for k, (base, colour) in enumerate([(0.55, (90, 130, 90)), (0.65, (60, 110, 60)), (0.75, (40, 90, 40))]):
        xs = np.arange(0, w + 8, 8)
        ys = h * base + np.sin(xs / w * (3 + k) * math.pi + k) * h * 0.06 + rng.normal(0, 2, len(xs))
        draw.polygon(list(zip(xs, ys)) + [(w, h), (0, h)], fill=colour)
    draw.rectangle([0, h * 0.86, w, h], fill=(70, 120, 170))
    for _ in range(14):
        tx, ty = rng.uniform(0, w), rng.uniform(h * 0.66, h * 0.84)
        draw.rectangle([tx - 2, ty, tx + 2, ty + 14], fill=(80, 55, 30))
        draw.ellipse([tx - 10, ty - 22, tx + 10, ty + 4], fill=(30, 80 + int(rng.integers(0, 40)), 35))
    noise = rng.normal(0, 4, (h, w, 3))
    out = np.clip(np.asarray(img.filter(ImageFilter.GaussianBlur(1.2)), dtype=np.float32) + noise, 0, 255)
    return Image.fromarray(out.astype(np.uint8), "RGB")


def grace_hopper() -> Image.Image:
    """matplotlib's sample photo (US Navy, public domain)."""
    from matplotlib import cbook

    with cbook.get_sample_data("grace_hopper.jpg") as f:
        return Image.open(f).convert("RGB")


EXAMPLES = {
    # name: (kind, title, maker)
    "hopper": ("content", "Grace Hopper (photo)", grace_hopper),
    "landscape": ("content", "Landscape (drawn)", landscape),
    "swirls": ("style", "Night swirls (drawn)", swirls),
    "mosaic": ("style", "Stained glass (drawn)", mosaic),
}


@functools.lru_cache(maxsize=None)
def example_image(name: str) -> Image.Image:
    if name not in EXAMPLES:
        raise KeyError(f"no example named {name!r}; there are: {', '.join(EXAMPLES)}")
    return EXAMPLES[name][2]()
