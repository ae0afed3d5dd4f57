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
    """Paint ``content`` in the style of ``style`` (one image or several, blended) and return the result.

    Images may be PIL images, paths or encoded bytes. Settings come as a :class:`Settings`, a dict (e.g. a
    result's ``info["settings"]``, which replays that run, steering included) and/or keyword arguments
    named like :class:`Settings`' fields (``size=512, style_weight=20``), which override. ``callback``
    receives a :class:`Progress` after every iteration; ``controls`` lets another thread change the
    weights or stop (the image so far is returned). The returned image's ``info["settings"]`` is the run's
    record: every setting, the seed, the weight changes and where it stopped.
    """
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
