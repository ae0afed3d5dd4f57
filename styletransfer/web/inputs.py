"""What the page, /quick and the JSON API send, turned into the job layer's values: uploads decoded (one
set of messages for all three), slider positions into weights, and the backbone checked against what the
page offers. Every bad value is a one-line ValueError (ImageError, SettingError) for the user."""
from __future__ import annotations

import base64
import io
import json

import flask
from PIL import Image

from .. import images
from ..backbones import BACKBONES, list_checkpoints
from ..limits import Limits
from ..settings import SettingError

__all__ = ["decode_data_url", "decode_together", "image_size_of",
           "offered_backbone", "parse_json", "read_data_url", "read_files", "read_json_body", "slider_weight",
           "upload_message"]


def decode_together(parts: list[tuple[bytes, str]], limits: Limits, known_size: bool = True) -> list[Image.Image]:
    """The files of one request -> RGB images. Every file's size and every header's pixel count are checked
    before any pixel is decoded, each against its own limit and all together against the request's, so no
    request makes the server decode more than ``max_request_pixels``. ``known_size``: the bytes are whole
    files (the API reads only up to the limit, so a figure would mislead)."""
    opened = []
    for raw, name in parts:
        if len(raw) > limits.max_upload_bytes:
            size = f" ({len(raw) / 2**20:.1f} MB)" if known_size else ""
            raise images.ImageError(f"{name}: over the upload limit of {limits.max_upload_bytes / 2**20:.0f} MB"
                                    f"{size}; save it smaller (JPEG) and try again")
        opened.append((images.open_image(raw, name), name))
    total = sum(img.width * img.height for img, _ in opened)
    if len(opened) > 1 and total > limits.max_request_pixels:
        raise images.ImageError(f"these images are {total / 1e6:,.0f} megapixels together, over this server's limit "
                                f"of {limits.max_request_pixels / 1e6:,.0f}: send smaller ones")
    return [images.checked_rgb(img, name, limits.max_input_pixels) for img, name in opened]


def _payload(contents: str) -> bytes:
    return base64.b64decode(contents.partition(",")[2], validate=False)


def read_data_url(contents: str | None, filename: str | None, what: str) -> tuple[bytes, str]:
    """dcc.Upload contents (a data URL) -> (the file's bytes, its name for messages)."""
    name = filename if isinstance(filename, str) and filename else what
    if not contents:
        raise images.ImageError(f"add a {what} first")
    try:
        return _payload(contents), name
    except (ValueError, TypeError, AttributeError):
        raise images.ImageError(f"{name}: the upload could not be read; try again") from None


def decode_data_url(contents: str | None, filename: str | None, what: str, limits: Limits) -> Image.Image:
    """dcc.Upload contents (a data URL) -> RGB image."""
    return decode_together([read_data_url(contents, filename, what)], limits)[0]


def read_files(files, field: str, limits: Limits, single: bool = False) -> list[tuple[bytes, str]]:
    """Multipart files (the JSON API) -> [(bytes, name)], each read no further than the upload limit."""
    files = [f for f in files if f and f.filename is not None]
    if not files:
        raise images.ImageError(f"add the {field} image (multipart field {field!r})")
    if single and len(files) > 1:
        raise images.ImageError(f"send one {field} image, not {len(files)}")
    return [(f.read(limits.max_upload_bytes + 1), f.filename or field) for f in files]



MAX_JSON_BYTES = 64 * 1024  # settings or weights: a few hundred bytes from the page, generous for scripts
MAX_JSON_DEPTH = 16         # settings nest three levels (a schedule's weights)


class TooLarge(SettingError):
    """A request part over its size limit (answered 413, the limit named)."""


def read_json_body(what: str):
    """The request's body as JSON, refused by its declared length before it is read, and read no further
    than the limit when it streams without one."""
    if (flask.request.content_length or 0) > MAX_JSON_BYTES:
        raise TooLarge(f"{what} is over this server's limit of {MAX_JSON_BYTES // 1024} KB")
    return parse_json(flask.request.stream.read(MAX_JSON_BYTES + 1), what)


def parse_json(text: str | bytes, what: str):
    """A JSON value a request sent, within :data:`MAX_JSON_BYTES` and :data:`MAX_JSON_DEPTH`; SettingError
    naming the limit otherwise (never the parser's own RecursionError)."""
    if len(text) > MAX_JSON_BYTES:
        raise TooLarge(f"{what} is over this server's limit of {MAX_JSON_BYTES // 1024} KB")
    try:
        value = json.loads(text, parse_constant=float)
    except (ValueError, RecursionError):
        raise SettingError(f"{what} must be a JSON object") from None
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise SettingError(f"{what} nests deeper than {MAX_JSON_DEPTH} levels")
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        stack.extend((child, depth + 1) for child in children)
    return value


def image_size_of(contents) -> tuple[int, int] | None:
    """An upload's (width, height) from its header alone (nothing decoded), or None if it is not readable:
    the upload's own check says what is wrong with it."""
    if not isinstance(contents, str) or "," not in contents:
        return None
    try:
        return Image.open(io.BytesIO(_payload(contents))).size
    except Exception:  # noqa: BLE001 — any unreadable upload: no size
        return None


def upload_message(img: Image.Image, name: str) -> str:
    """What the page says under an accepted upload: its size, and any conversion (an animation's frame)."""
    return "; ".join([f"{name}: {img.width}×{img.height} px", *(n.split(": ", 1)[-1] for n in images.notes_of(img))])


def slider_weight(slider_value):
    """A log10 slider's value -> the weight; anything that is not a number is passed on for the
    settings' validator to name (callbacks are public endpoints: any JSON can arrive)."""
    if isinstance(slider_value, (int, float)) and not isinstance(slider_value, bool):
        return 10.0 ** min(slider_value, 300)  # 1e300 is refused by range, not by an OverflowError
    return slider_value


def offered_backbone(value, models_dir: str | None):
    """``value`` if the page offers it (a built-in, or a checkpoint in ``models_dir``), else SettingError:
    a forged request must not make the server load a file of its choosing."""
    if isinstance(value, str) and (value in BACKBONES or value in list_checkpoints(models_dir)):
        return value
    raise SettingError(f"unknown backbone {str(value)[:60]!r}: choose a built-in one ({', '.join(BACKBONES)}) or "
                       "a checkpoint the page offers")
