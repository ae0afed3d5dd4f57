"""What the page, /quick and the API send, turned into the job layer's values (one-line ValueErrors)."""
from __future__ import annotations

import io
import json

import flask
from PIL import Image

from .. import images
from ..backbones import BACKBONES, list_checkpoints
from ..jobs.uploads import TTL_S, Uploads, valid_token
from ..limits import Limits
from ..settings import SettingError

__all__ = ["UPLOADS_PATH", "FileTooLarge", "accept_upload", "decode_together", "decode_upload", "image_size_of",
           "offered_backbone", "parse_json", "read_files", "read_json_body", "read_upload", "slider_weight",
           "upload_message"]

UPLOADS_PATH = "/api/uploads/"  # an upload's address, which the page's callbacks send instead of the file


def decode_together(parts: list[tuple[bytes, str]], limits: Limits, known_size: bool = True) -> list[Image.Image]:
    """The files of one request -> RGB images, every size and header checked before any pixel is decoded."""
    opened = []
    for raw, name in parts:
        if len(raw) > limits.max_upload_bytes:
            raise images.ImageError(_over_upload_limit(name, limits, len(raw) if known_size else None))
        opened.append((images.open_image(raw, name), name))
    total = sum(img.width * img.height for img, _ in opened)
    if len(opened) > 1 and total > limits.max_request_pixels:
        raise images.ImageError(f"these images are {total / 1e6:,.0f} megapixels together, over this server's limit "
                                f"of {limits.max_request_pixels / 1e6:,.0f}: send smaller ones")
    return [images.checked_rgb(img, name, limits.max_input_pixels) for img, name in opened]


def _over_upload_limit(name: str, limits: Limits, size: int | None = None) -> str:
    said = f" ({size / 2**20:.1f} MB)" if size is not None else ""
    return (f"{name}: over the upload limit of {limits.max_upload_bytes / 2**20:.0f} MB{said}; "
            "save it smaller (JPEG) and try again")


def read_upload(uploads: Uploads, owner: str, ref, what: str) -> tuple[bytes, str]:
    """An upload the page names by its address (``/api/uploads/<token>``) -> (the file's bytes, its name)."""
    if not ref:
        raise images.ImageError(f"add a {what} first")
    token = ref[len(UPLOADS_PATH):] if isinstance(ref, str) and ref.startswith(UPLOADS_PATH) else None
    found = uploads.get(owner, token) if valid_token(token) else None
    if found is None:
        raise images.ImageError(f"the {what} is no longer on the server (uploads are kept for "
                                f"{TTL_S // 3600} hours): add it again")
    return found.data, found.name


def decode_upload(uploads: Uploads, owner: str, ref, what: str, limits: Limits) -> Image.Image:
    """An upload the page names -> RGB image, checked like every file."""
    return decode_together([read_upload(uploads, owner, ref, what)], limits)[0]


def accept_upload(files, limits: Limits) -> tuple[bytes, str, Image.Image]:
    """The one file of ``POST /api/uploads``, its size and header checked (FileTooLarge, ImageError)."""
    raw, name = read_files(files, "file", limits, single=True)[0]
    if len(raw) > limits.max_upload_bytes:
        raise FileTooLarge(_over_upload_limit(name, limits))
    img = images.open_image(raw, name)
    images.check_dimensions(img.size, name, limits.max_input_pixels)
    return raw, name, img


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


class FileTooLarge(images.ImageError):
    """An uploaded file over the upload limit (413 from ``/api/uploads``)."""


def read_json_body(what: str):
    """The request's body as JSON, read no further than the limit."""
    if (flask.request.content_length or 0) > MAX_JSON_BYTES:
        raise TooLarge(f"{what} is over this server's limit of {MAX_JSON_BYTES // 1024} KB")
    return parse_json(flask.request.stream.read(MAX_JSON_BYTES + 1), what)


def parse_json(text: str | bytes, what: str):
    """A JSON value within :data:`MAX_JSON_BYTES` and :data:`MAX_JSON_DEPTH`, else SettingError naming the limit."""
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


def image_size_of(uploads: Uploads, owner: str, ref) -> tuple[int, int] | None:
    """An upload's (width, height) from its header alone, or None."""
    try:
        return Image.open(io.BytesIO(read_upload(uploads, owner, ref, "image")[0])).size
    except Exception:  # noqa: BLE001 — any unreadable upload: no size
        return None


def upload_message(img: Image.Image, name: str) -> str:
    """What the page says under an accepted upload: its size, and any conversion (an animation's frame)."""
    return "; ".join([f"{name}: {img.width}×{img.height} px", *(n.split(": ", 1)[-1] for n in images.notes_of(img))])


def slider_weight(slider_value):
    """A log10 slider's value -> the weight; a non-number is passed on for the settings' validator to name."""
    if isinstance(slider_value, (int, float)) and not isinstance(slider_value, bool):
        return 10.0 ** min(slider_value, 300)  # 1e300 is refused by range, not by an OverflowError
    return slider_value


def quality_iterations(position, stops):
    """The Quality slider's ``position`` as iterations (``stops``), or SettingError."""
    if (isinstance(stops, list) and isinstance(position, int) and not isinstance(position, bool)
            and 0 <= position < len(stops)):
        return stops[position]
    raise SettingError("quality must be one of the Quality slider's points: reload the page")


def offered_backbone(value, models_dir: str | None):
    """``value`` if the page offers it, else SettingError (a forged request must not load a file)."""
    if isinstance(value, str) and (value in BACKBONES or value in list_checkpoints(models_dir)):
        return value
    raise SettingError(f"unknown backbone {str(value)[:60]!r}: choose a built-in one ({', '.join(BACKBONES)}) or "
                       "a checkpoint the page offers")
