"""What both job backends share: statuses, errors, the typed view of a job, admission (validation and
limits), how the engine's progress becomes what a job shows, and the one-line messages users see."""
from __future__ import annotations

import dataclasses
import io
import logging
import time
from dataclasses import dataclass, field
from typing import Callable

import torch
from PIL import Image

from .. import images
from ..backbones import WeightsUnavailable
from ..engine import Checkpoint, Progress, check_inputs, final_inputs
from ..limits import Limits
from ..settings import SettingError, Settings

log = logging.getLogger(__name__)

QUEUED, RUNNING, STOPPED, DONE, FAILED = "queued", "running", "stopped", "done", "failed"
FINISHED = (STOPPED, DONE, FAILED)


class JobNotFound(KeyError):
    """No such job for this owner (it may exist for someone else: that is not said)."""


class LimitExceeded(ValueError):
    """A limit from :class:`Limits` was reached; the message says which and what to do."""


@dataclass
class JobView:
    """One job as the page, the API and the tests see it, on either backend."""

    id: str
    status: str
    settings: dict                      # the record: start settings, weight changes, where it stopped
    weights: dict                       # the weights in force now
    created: float
    queue_position: int = 0             # 1 = next to start; 0 when not queued
    iteration: int = 0
    total_iterations: int = 0
    scale: int = 0
    scales: int = 0
    size: list | None = None
    eta: float | None = None
    elapsed: float = 0.0
    losses: dict = field(default_factory=dict)
    events: list = field(default_factory=list)
    error: str | None = None
    note: str | None = None             # e.g. "resumed at iteration 40 after its worker was lost"
    frame_seq: int = 0
    frame_time: float | None = None
    frame_log: list = field(default_factory=list)
    frames: int = 0                     # time-lapse frames kept
    started: float | None = None
    finished: float | None = None
    device: str | None = None
    attempt: int = 1
    has_result: bool = False

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def admit(settings: Settings, content: Image.Image, styles: list[Image.Image], limits: Limits,
          active_for_owner: int, queued_total: int) -> tuple[Settings, Image.Image, list[Image.Image]]:
    """Check a submission against the settings' rules, the inputs' shapes and the server's limits, whatever
    the request claims; return the settings to run and the inputs scaled to the job's size (all a job
    keeps of them: the engine would scale them so first anyway)."""
    if not styles:
        raise SettingError("add at least one painting")
    settings = dataclasses.replace(settings).validate(n_styles=len(styles))
    check_inputs(settings, content.size, [s.size for s in styles])
    if settings.size > limits.max_size:
        raise LimitExceeded(f"size {settings.size} px is over this server's limit of {limits.max_size} px: "
                            "choose a smaller size")
    if settings.iterations is not None and settings.iterations > limits.max_iterations:
        raise LimitExceeded(f"{settings.iterations} iterations is over this server's limit of "
                            f"{limits.max_iterations}: lower the quality")
    work = work_of(settings, content.size)
    if work > limits.max_work:
        raise LimitExceeded(f"this job is {work / 1e6:,.0f} megapixel-iterations of work, over this server's "
                            f"budget of {limits.max_work / 1e6:,.0f}: lower the size or the quality")
    if active_for_owner >= limits.max_queued_per_session:
        raise LimitExceeded(f"you already have {active_for_owner} jobs queued or running (the limit is "
                            f"{limits.max_queued_per_session}): wait for one to finish or stop one")
    if queued_total >= limits.max_queued_total:
        raise LimitExceeded(f"the server's queue is full ({limits.max_queued_total} jobs): "
                            "try again in a few minutes")
    content, styles = final_inputs(settings, content, styles)
    return settings, content, styles


def work_of(settings: Settings, content_wh: tuple[int, int]) -> float:
    """Pixels × iterations at the final scale, doubled for the coarser scales (each a quarter of the
    pixels at twice the iterations: together at most as much again)."""
    long_side = max(content_wh)
    pixels = settings.size * settings.size * min(content_wh) / long_side
    iterations = settings.iterations if settings.iterations is not None else 300
    return pixels * iterations * (2 if settings.multiscale else 1)


def rerun_settings(record: dict, continue_iterations: int | None) -> Settings:
    """What "Run again" (``None``) or "Continue" (``n`` more iterations at the final size, from the result)
    submits for a job whose record is ``record``: its start settings and seed, without its steering."""
    settings = Settings.from_dict({**record, "schedule": [], "stop_after": None})
    if continue_iterations is not None:
        settings = dataclasses.replace(settings, multiscale=False, iterations=continue_iterations).validate()
    return settings


def rerun_note(job_id: str, content: Image.Image | None, start: Image.Image | None,
               continue_iterations: int | None) -> str | None:
    """Check that a job can run again (its images are still kept) or continue (it has a result to start
    from); the note the new job carries. SettingError saying what to do otherwise."""
    if content is None:
        raise SettingError("this job's images are no longer kept: start it again from the page")
    if continue_iterations is not None and start is None:
        raise SettingError("only a finished job can be continued")
    return f"continues job {job_id[:8]} from its result" if start is not None else None


def check_changeable(status: str) -> None:
    """Live weights go to queued and running jobs only."""
    if status in FINISHED:
        raise SettingError(f"the job is {status}: its settings can no longer change")


def start_checkpoint(image: Image.Image) -> Checkpoint:
    """A "Continue" job starts from a finished job's result: a checkpoint at its first (only) scale."""
    from ..images import image_to_tensor

    return Checkpoint(scale=1, iteration=0, image=image_to_tensor(image), events=[], control_version=0)


class SpeedMeter:
    """Seconds per unit of work (:func:`work_of`) on this backend's devices, for the page's estimate before
    Start: measured once by a small calibration run when a worker starts, then from every finished job."""

    def __init__(self, value: float | None = None):
        self.value = value

    def observe(self, seconds: float, work: float) -> float | None:
        if seconds > 0 and work > 0:
            sample = seconds / work
            self.value = sample if self.value is None else 0.7 * self.value + 0.3 * sample
        return self.value

    def estimate(self, settings: Settings, content_wh: tuple[int, int] | None = None) -> float | None:
        """Seconds the job would take here (a 4:3 photo when its size is not known), or None before any
        measurement."""
        return None if self.value is None else self.value * work_of(settings, content_wh or (4, 3))


def calibrate(device: str, stop: Callable[[], bool] = lambda: False) -> tuple[float, float] | None:
    """(seconds, work) of a few iterations of a small one-scale run on ``device``, weights loaded first;
    None if ``stop()`` turned true on the way (the process is ending)."""
    from ..engine import StyleTransfer
    from ..examples import example_image

    settings = Settings(size=192, iterations=4, multiscale=False, seed=0, device=device, frame_every=10**9)
    run = StyleTransfer(settings)
    photo = example_image("hopper")
    for _ in run.run(photo, [example_image("swirls")]):
        if stop():
            return None
    measured = settings.iterations - 1  # the first iteration pays for allocation and kernel choice
    return sum(run.iteration_seconds[1:]), work_of(dataclasses.replace(settings, iterations=measured), photo.size)


class FrameHistory:
    """At most ``capacity`` frames spread over the whole run: when full, every other frame is dropped
    and only every 2nd (then 4th, ...) new frame is kept, so the time-lapse covers start to end."""

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


class ProgressRecorder:
    """Turns the engine's :class:`Progress` into a job's updates: losses every iteration, a JPEG preview
    at most every ``frame_interval`` seconds (and always the first, the last, a new scale's first and at a
    weight change), which is also offered to the time-lapse."""

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
            frame = images.jpeg_bytes(p.to_image())
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
        frame = images.jpeg_bytes(image)
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


# A job failing with one of these is the input's or the machine's limit, said in its message; any other
# exception is a bug, logged with its traceback.
EXPECTED_FAILURES = (ValueError, WeightsUnavailable, MemoryError)


def user_message(exc: BaseException) -> str:
    """One line for the user. Our own errors (bad input, missing weights) say what to do; anything else is
    a bug or a machine problem, whose raw text means nothing to a user: it goes to the log instead."""
    if isinstance(exc, MemoryError):
        return "out of memory: try a smaller size"
    if isinstance(exc, getattr(torch.cuda, "OutOfMemoryError", ())):
        return "out of GPU memory: try a smaller size"
    if isinstance(exc, (ValueError, WeightsUnavailable)) and str(exc).strip():
        return str(exc).strip().splitlines()[0]
    return f"the job failed unexpectedly ({exc.__class__.__name__}); the details are in the server's log"
