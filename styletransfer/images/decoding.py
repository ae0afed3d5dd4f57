"""Untrusted image files decoded and checked: every way an input can be wrong is one :class:`ImageError` line."""
from __future__ import annotations

import contextlib
import io
import os
import warnings
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from ..limits import Limits

# Bigger inputs are refused before decoding (decompression bombs); they would be shrunk anyway.
DEFAULT_MAX_INPUT_PIXELS = Limits().max_input_pixels  # callers pass their configured limit
MAX_SIDE = 20_000
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
