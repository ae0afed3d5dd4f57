"""The engine's progress as a job's updates: losses, previews, the time-lapse."""
from __future__ import annotations

import io
import logging
import time
from dataclasses import dataclass

from PIL import Image

from .. import images
from ..engine import Progress
from ..limits import Limits

log = logging.getLogger(__name__)


class FrameHistory:
    """At most ``capacity`` frames spread over the whole run."""

    def __init__(self, capacity: int, frames: list[bytes] | None = None, stride: int = 1, offered: int = 0):
        self.capacity = max(2, capacity)
        self.frames: list[bytes] = list(frames or [])
        self.stride = stride
        self.offered = offered

    def offer(self, frame: bytes, force: bool = False) -> str | None:
        """``"append"`` if the frame was added, ``"thinned"`` if the list was thinned too, else None."""
        self.offered += 1
        if not force and (self.offered - 1) % self.stride:
            return None
        self.frames.append(frame)
        if len(self.frames) > self.capacity:
            self.frames = self.frames[::2]
            self.stride *= 2
            return "thinned"
        return "append"

    def __len__(self):
        return len(self.frames)


@dataclass
class Update:
    """What one iteration changes in a job (see :class:`ProgressRecorder`)."""

    fields: dict                  # iteration, total_iterations, scale, scales, size, eta, elapsed, losses
    loss_entry: dict              # one point of the loss history
    event: dict | None = None     # a weight change that took effect at this iteration
    frame: bytes | None = None    # a new preview (JPEG)
    frame_time: float | None = None
    history: str | None = None    # what the frame did to the time-lapse: "append", "thinned" or None


PREVIEW_SIDE = 1024  # px: a print's previews and time-lapse frames are shown at most this large


def preview(image: Image.Image) -> Image.Image:
    """The image as the page shows it while it runs: a print's downscaled, anything else as it is."""
    return images.resize_long_side(image, PREVIEW_SIDE) if max(image.size) > PREVIEW_SIDE else image


class ProgressRecorder:
    """The engine's :class:`Progress` as a job's updates: losses, previews every ``frame_interval`` s, frames."""

    def __init__(self, limits: Limits, history: FrameHistory):
        self.limits = limits
        self.history = history
        self.last_frame = 0.0
        self.scale = 0

    def record(self, p: Progress) -> Update:
        now = time.time()
        final = p.iteration == p.total_iterations
        frame = None
        if p.image is not None and (p.weights_changed or final or p.iteration == 1 or p.scale != self.scale
                                    or now - self.last_frame >= self.limits.frame_interval):
            frame = images.jpeg_bytes(preview(p.to_image()))
            self.last_frame = now
        self.scale = p.scale
        update = Update(
            fields={"iteration": p.iteration, "total_iterations": p.total_iterations, "scale": p.scale,
                    "scales": p.scales, "size": list(p.size), "eta": p.eta, "elapsed": p.elapsed,
                    "losses": dict(p.losses), "weights": dict(p.weights)},
            loss_entry={"iteration": p.iteration, "elapsed": round(p.elapsed, 3), **p.losses},
            event={"iteration": p.iteration, "weights": dict(p.weights)} if p.weights_changed else None,
        )
        if frame is not None:
            update.frame, update.frame_time = frame, now
            update.history = self.history.offer(frame, force=p.weights_changed)
        return update

    def final_frame(self, image: Image.Image, latest: bytes | None) -> Update | None:
        """The result as the last preview and time-lapse frame, unless it is the latest already."""
        frame = images.jpeg_bytes(preview(image))
        if frame == latest:
            return None
        return Update(fields={}, loss_entry={}, frame=frame, frame_time=time.time(),
                      history=self.history.offer(frame, force=True))


TIMELAPSE_FORMATS = ("mp4", "gif")


def encode_timelapse(frames: list[bytes], size, fmt: str = "mp4") -> bytes | None:
    """The time-lapse of a job's kept JPEG frames: H.264 MP4 (the default) or GIF; None without frames."""
    if not frames:
        return None
    if fmt not in TIMELAPSE_FORMATS:
        raise ValueError(f"time-lapse format must be one of {', '.join(TIMELAPSE_FORMATS)}, not {fmt!r}")
    decoded = [Image.open(io.BytesIO(f)).convert("RGB") for f in frames]
    size = tuple(size) if size else None
    if fmt == "gif":
        return images.gif_bytes(decoded, size=size)
    # The MP4 is a by-product: without PyAV, or on an encoder error, the job still ends well.
    try:
        return images.mp4_bytes(decoded, size=size)
    except ImportError:
        log.warning("no MP4 time-lapse: PyAV is not installed (pip install av); the GIF one still works")
    except Exception:  # noqa: BLE001
        log.exception("the MP4 time-lapse could not be encoded; the GIF one still works")
    return None
