"""Images in and out: decode and validate (one :class:`ImageError` line), resize, tensors, colours, PNG
records, GIF and MP4."""
from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import warnings
from typing import BinaryIO

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageFile, ImageOps, PngImagePlugin, UnidentifiedImageError

from .limits import Limits

__all__ = [
    "ImageError",
    "MAX_SIDE",
    "NOTES_KEY",
    "check_dimensions",
    "notes_of",
    "decode_image",
    "load_image",
    "mp4_bytes",
    "jpeg_bytes",
    "write_atomic",
    "match_color",
    "read_png_settings",
    "long_side_size",
    "resize_long_side",
    "png_bytes",
    "save_png",
    "tensor_to_image",
    "image_to_tensor",
]

# Bigger inputs are refused before decoding (decompression bombs); they would be shrunk anyway.
DEFAULT_MAX_INPUT_PIXELS = Limits().max_input_pixels  # callers pass their configured limit
MAX_SIDE = 20_000
PNG_SETTINGS_KEY = "styletransfer"
NOTES_KEY = "styletransfer_notes"  # image.info key: conversions the user should hear about

ImageFile.LOAD_TRUNCATED_IMAGES = False


class ImageError(ValueError):
    """An input that is not a usable image; ``str()`` is one line for the user."""


_SIGNATURES = [
    (b"%PDF", "a PDF document"),
    (b"<svg", "an SVG drawing"),
    (b"<?xml", "an XML/SVG document"),
]


def _sniff_unsupported(head: bytes) -> str | None:
    stripped = head.lstrip()
    for magic, what in _SIGNATURES:
        if stripped[: len(magic)].lower() == magic.lower():
            return what
    if head[4:8] == b"ftyp" and head[8:12] in (b"heic", b"heix", b"mif1", b"msf1", b"heim", b"heis", b"avif"):
        return "a HEIC/HEIF/AVIF photo"
    return None


def decode_image(data: bytes | BinaryIO, name: str = "image", max_pixels: int | None = None) -> Image.Image:
    """Bytes of an image file -> an RGB PIL image, or :class:`ImageError`; bombs refused before decoding."""
    return checked_rgb(open_image(data, name), name, max_pixels)


def open_image(data: bytes | BinaryIO, name: str = "image") -> Image.Image:
    """The file opened and its header read; nothing decoded."""
    raw = data if isinstance(data, bytes) else data.read()
    if not raw:
        raise ImageError(f"{name}: the file is empty")
    unsupported = _sniff_unsupported(raw[:64])
    if unsupported:
        raise ImageError(f"{name}: this is {unsupported}, not a photo or painting; "
                         "convert it to PNG or JPEG first")
    try:
        with _decoding(name):
            img = Image.open(io.BytesIO(raw))
    except UnidentifiedImageError:
        raise ImageError(f"{name}: not an image file this tool can read (PNG, JPEG, WebP, BMP, TIFF, GIF)") from None
    return img


@contextlib.contextmanager
def _decoding(name: str):
    """PIL's complaints while reading a file (a bomb, damage, truncation) as one :class:`ImageError` line."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    except UnidentifiedImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(f"{name}: the image is too large to decode safely (decompression bomb?)") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageError(f"{name}: the image file is damaged or truncated ({_first_line(exc)})") from None


def check_dimensions(size: tuple[int, int], name: str = "image", max_pixels: int | None = None) -> None:
    """ImageError when a header's size is absurd (before any pixel is decoded)."""
    max_pixels = DEFAULT_MAX_INPUT_PIXELS if max_pixels is None else max_pixels
    w, h = size
    if w <= 0 or h <= 0 or max(w, h) > MAX_SIDE or w * h > max_pixels:
        raise ImageError(f"{name}: {w}×{h} pixels is too large (the limit is {max_pixels // 1_000_000} "
                         f"megapixels and {MAX_SIDE} px a side); scale it down first")


def checked_rgb(img: Image.Image, name: str = "image", max_pixels: int | None = None) -> Image.Image:
    """An opened (lazily decoded) PIL image -> RGB, refusing absurd sizes before decoding the pixels."""
    check_dimensions(img.size, name, max_pixels)
    with _decoding(name):
        frames = getattr(img, "n_frames", 1)
        img.seek(0)  # animated GIF/WebP/APNG: the first frame, and the user is told
        img.load()
        rgb = _to_rgb(img)
    rgb.info[NOTES_KEY] = ([f"{name}: an animation of {frames} frames; its first frame is used"]
                           if frames > 1 else [])
    return rgb


def notes_of(img: Image.Image) -> list[str]:
    """What :func:`decode_image` changed that the user should hear about (e.g. an animation's first frame)."""
    return list(img.info.get(NOTES_KEY, ()))


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__


def _to_rgb(img: Image.Image) -> Image.Image:
    img = ImageOps.exif_transpose(img)
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(img, dtype=np.float64)
        peak = 65535.0 if arr.max(initial=0) > 255 else 255.0
        img = Image.fromarray((arr * (255.0 / peak)).clip(0, 255).astype(np.uint8), "L")
    elif img.mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(arr.min(initial=0)), float(arr.max(initial=1))
        img = Image.fromarray(((arr - lo) / max(hi - lo, 1e-12) * 255).astype(np.uint8), "L")
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("LA", "La", "PA"):
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "RGBa"):
        background = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, img.convert("RGBA"))
    return img.convert("RGB")


def load_image(path: str | os.PathLike, max_pixels: int | None = None) -> Image.Image:
    """Read an image file from disk; every failure is an :class:`ImageError` naming the path."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ImageError(f"{path}: no such file")
    if os.path.isdir(path):
        raise ImageError(f"{path}: is a folder, not an image file")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise ImageError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    return decode_image(data, name=path, max_pixels=max_pixels)


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


def png_bytes(img: Image.Image, settings: dict | None = None) -> bytes:
    """Encode as PNG, with ``settings`` (and the seed) as text chunks so the file can be reproduced."""
    info = PngImagePlugin.PngInfo()
    if settings:
        info.add_text(PNG_SETTINGS_KEY, json.dumps(settings, sort_keys=True))
        for key, value in settings.items():
            info.add_text(f"{PNG_SETTINGS_KEY}:{key}", json.dumps(value))
    buf = io.BytesIO()
    img.save(buf, format="PNG", pnginfo=info)
    return buf.getvalue()


def jpeg_bytes(img: Image.Image, quality: int = 88) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def data_url(img: Image.Image, fmt: str = "PNG", max_side: int | None = None) -> str:
    """An image as a data: URL (what a browser's upload sends), scaled to fit ``max_side`` if given."""
    if max_side:
        img = img.copy()
        img.thumbnail((max_side, max_side))
    buf = io.BytesIO()
    img.save(buf, format=fmt, quality=85)
    return f"data:image/{fmt.lower()};base64," + base64.b64encode(buf.getvalue()).decode()


def save_png(img: Image.Image, path: str | os.PathLike, settings: dict | None = None) -> None:
    """Write the PNG atomically (:func:`write_atomic`)."""
    write_atomic(path, png_bytes(img, settings))


def write_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` so that a half-written file never appears at ``path``."""
    path = os.fspath(path)
    tmp = f"{path}.partial-{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def read_png_settings(path_or_bytes) -> dict | None:
    """The settings a result PNG was made with, or None."""
    src = io.BytesIO(path_or_bytes) if isinstance(path_or_bytes, bytes) else path_or_bytes
    with Image.open(src) as img:
        text = getattr(img, "text", {}) or {}
        raw = text.get(PNG_SETTINGS_KEY)
    return json.loads(raw) if raw else None


GIF_MAX_SIDE = 512  # a GIF is the preview that plays anywhere; the MP4 keeps the full size at a tenth the bytes
GIF_MAX_FRAMES = 48


def gif_bytes(frames: list[Image.Image], size: tuple[int, int] | None = None, seconds: float = 6.0) -> bytes:
    """An animated GIF of ``frames`` lasting ~``seconds`` (capped in frames and side, one palette)."""
    if not frames:
        raise ValueError("no frames to make a time-lapse from")
    if len(frames) > GIF_MAX_FRAMES:  # evenly spread, the last kept: 8 a second is smooth enough here
        step = (len(frames) - 1) / (GIF_MAX_FRAMES - 1)
        frames = [frames[round(i * step)] for i in range(GIF_MAX_FRAMES)]
    size = size or frames[-1].size
    if max(size) > GIF_MAX_SIDE:
        size = long_side_size(size, GIF_MAX_SIDE)
    scaled = [f.convert("RGB") if f.size == size else f.convert("RGB").resize(size, Image.Resampling.BICUBIC)
              for f in frames]
    picks = sorted({round(i * (len(scaled) - 1) / 7) for i in range(8)})  # the photo, the way, the painting
    tile = long_side_size(size, 160)
    sheet = Image.new("RGB", (tile[0] * len(picks), tile[1]))
    for i, k in enumerate(picks):
        sheet.paste(scaled[k].resize(tile, Image.Resampling.BOX), (i * tile[0], 0))
    palette = sheet.quantize(colors=255, method=Image.Quantize.MEDIANCUT)
    indexed = [f.quantize(palette=palette, dither=Image.Dither.NONE) for f in scaled]
    per_frame = max(20, int(1000 * seconds / len(indexed)))
    durations = [per_frame] * (len(indexed) - 1) + [1000]
    buf = io.BytesIO()
    indexed[0].save(buf, format="GIF", save_all=True, append_images=indexed[1:], duration=durations, loop=0,
                    optimize=False)
    return buf.getvalue()


def mp4_bytes(frames: list[Image.Image], size: tuple[int, int] | None = None, seconds: float = 6.0) -> bytes:
    """An H.264 MP4 of ``frames`` at ``size``, lasting ~``seconds``, the last frame held a second."""
    import av

    if not frames:
        raise ValueError("no frames to make a time-lapse from")
    w, h = size or frames[-1].size
    w, h = max(2, w - w % 2), max(2, h - h % 2)  # 4:2:0 chroma needs even sides
    fps = max(2, min(30, round(len(frames) / seconds)))
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as container:
        codec = "libx264" if "libx264" in av.codecs_available else "h264"
        stream = container.add_stream(codec, rate=fps, options={"crf": "20", "preset": "medium"})
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        held = frames + [frames[-1]] * fps
        for image in held:
            frame = av.VideoFrame.from_image(image.convert("RGB").resize((w, h), Image.Resampling.BICUBIC))
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buf.getvalue()
