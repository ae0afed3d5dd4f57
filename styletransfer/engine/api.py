"""The one-call API: :func:`stylize`, used by scripts and notebooks (the CLI and the jobs drive
:class:`~.loop.StyleTransfer` themselves, to report progress)."""
from __future__ import annotations

import warnings
from typing import Callable, Sequence

from PIL import Image

from .. import images
from ..settings import Settings
from .inputs import check_inputs
from .loop import Controls, Progress, StyleTransfer

__all__ = ["stylize"]


def _as_image(value, name: str) -> Image.Image:
    if isinstance(value, Image.Image):
        return images.checked_rgb(value, name)
    if isinstance(value, (bytes, bytearray)):
        return images.decode_image(bytes(value), name=name)
    return images.load_image(value)


def stylize(
    content: Image.Image | str | bytes,
    style: Image.Image | str | bytes | Sequence[Image.Image | str | bytes],
    settings: Settings | dict | None = None,
    *,
    callback: Callable[[Progress], None] | None = None,
    controls: Controls | None = None,
    **fields,
) -> Image.Image:
    """Paint ``content`` in the style of ``style`` (one or several images, blended) and return the result.

    Images: PIL images, paths or bytes. Settings: a :class:`Settings` or a record dict, and/or keyword
    fields, which override. ``callback`` gets each :class:`Progress`; ``controls`` steers or stops from
    another thread. The result's ``info["settings"]`` is the run's record, which replays it."""
    base = settings.to_dict() if isinstance(settings, Settings) else dict(settings or {})
    run_settings = Settings.from_dict({**base, **fields})
    styles = list(style) if isinstance(style, (list, tuple)) else [style]
    content_img = _as_image(content, "photo")
    style_imgs = [_as_image(s, f"painting {i + 1}" if len(styles) > 1 else "painting") for i, s in enumerate(styles)]
    for img in (content_img, *style_imgs):
        for note in images.notes_of(img):
            warnings.warn(note, stacklevel=2)
    check_inputs(run_settings, content_img.size, [st.size for st in style_imgs])
    run = StyleTransfer(run_settings, controls)
    for progress in run.run(content_img, style_imgs):
        if callback is not None:
            callback(progress)
    result = run.result
    result.info["settings"] = run.record().to_dict()
    return result
