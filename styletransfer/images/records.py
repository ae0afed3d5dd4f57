"""Stills out: PNG with the run's record embedded, JPEG previews, data URLs, atomic writes."""
from __future__ import annotations

import base64
import io
import json
import os

from PIL import Image, PngImagePlugin

PNG_SETTINGS_KEY = "styletransfer"


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
