"""A submission checked against every rule and limit, its settings resolved once; what Run again, Continue
and Make a print submit."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Iterable

from PIL import Image

from ..images import image_to_tensor, jpeg_bytes, resize_long_side
from ..engine import Checkpoint, check_inputs, final_inputs, resolve
from ..engine.work import work_of
from ..limits import Limits
from ..settings import SettingError, Settings
from .model import LimitExceeded, OverCapacity


ROUND = 1e10  # seconds: more than any job's creation time, so a job's round outweighs when it came


@dataclass(frozen=True)
class Standing:
    """What a submitter already has queued or running, and how full the queue is, when a job comes."""
    for_owner: int = 0    # this session's jobs
    for_client: int = 0   # this client address's, all its sessions together
    queued_total: int = 0

    @classmethod
    def count(cls, active: Iterable[tuple[str, str | None]], owner: str, client: str | None,
              queued_total: int) -> "Standing":
        """From the (owner, client) of every queued or running job."""
        active = list(active)
        return cls(sum(1 for o, _ in active if o == owner),
                   sum(1 for _, c in active if client is not None and c == client), queued_total)

    def check(self, limits: Limits) -> None:
        """LimitExceeded, saying which and what to do, when one more job would pass a cap."""
        if self.for_owner >= limits.max_queued_per_session:
            raise OverCapacity(f"you already have {self.for_owner} jobs queued or running (the limit is "
                                f"{limits.max_queued_per_session}): wait for one to finish or stop one")
        if self.for_client >= limits.max_queued_per_client:
            raise OverCapacity(f"your address already has {self.for_client} jobs queued or running (the limit "
                                f"is {limits.max_queued_per_client}): wait for one to finish or stop one")
        if self.queued_total >= limits.max_queued_total:
            raise OverCapacity(f"the server's queue is full ({limits.max_queued_total} jobs): "
                                "try again in a few minutes")

    def queue_order(self, created: float) -> float:
        """Round-robin by session and client (everyone's first job before anyone's second), then arrival."""
        return max(self.for_owner, self.for_client) * ROUND + created


def check_size(size, limits: Limits, largest: int | None = None) -> None:
    """Refuse a size outside this server's range (up to ``largest``, default ``max_size``), naming the range."""
    smallest = Settings.__dataclass_fields__["size"].metadata["low"]
    largest = limits.max_size if largest is None else largest
    if isinstance(size, (int, float)) and not isinstance(size, bool) and not smallest <= size <= largest:
        raise LimitExceeded(f"size must be between {smallest} and {largest} px on this server (got {size:g})")



def print_sizes(largest_size: int, limits: Limits) -> list[int]:
    """What "Make a print" offers: √2 steps above ``largest_size``, up to the print limit."""
    highest = Settings.__dataclass_fields__["size"].metadata["high"]
    steps = (round(largest_size * 2 ** (k / 2)) for k in range(1, 13))  # up to 64 times the largest size
    return [s for s in steps if s <= min(limits.max_print_size, highest)]

def print_settings(record: dict, size: int, result_side: int, limits: Limits) -> Settings:
    """"Make a print"'s settings for ``record`` at ``size``, its scales starting above the result's side."""
    if not isinstance(size, int) or isinstance(size, bool) or not result_side < size <= limits.max_print_size:
        raise LimitExceeded(f"a print must be larger than the result ({result_side} px) and at most "
                            f"{limits.max_print_size} px on this server")
    settings = Settings.from_dict({**record, "schedule": [], "stop_after": None})
    # the backbone throughout: the draft was measured up to 1024 px, a print's scales are all above the result
    return dataclasses.replace(settings, size=size, multiscale=True, min_size=result_side + 1, draft_backbone="none")


def photo_for_prints(photo: Image.Image, result_side: int, limits: Limits) -> bytes | None:
    """The photo up to ``max_print_size`` as a JPEG for prints; None if the result is as large."""
    side = min(max(photo.size), limits.max_print_size)
    # JPEG at 95: a print's photo costs a few MB kept beside its job (raw RGB at 4096 px would be 48 MB)
    return jpeg_bytes(resize_long_side(photo, side), quality=95) if side > result_side else None


def admit(settings: Settings, content: Image.Image, styles: list[Image.Image], limits: Limits,
          device: str = "cpu", largest: int | None = None) -> tuple[Settings, Image.Image, list[Image.Image]]:
    """Check a submission against every rule and limit; return the settings resolved once and the inputs at
    the job's size."""
    if not styles:
        raise SettingError("add at least one painting")
    if len(styles) > limits.max_styles:
        raise LimitExceeded(f"{len(styles)} paintings is over this server's limit of {limits.max_styles} a job")
    check_size(settings.size, limits, largest)
    settings = resolve(settings, device).validate(n_styles=len(styles))
    check_inputs(settings, content.size, [s.size for s in styles])
    if settings.iterations > limits.max_iterations:
        raise LimitExceeded(f"{settings.iterations} iterations is over this server's limit of "
                            f"{limits.max_iterations}: lower the quality")
    work = work_of(settings, content.size, [s.size for s in styles]).pixels  # the paintings' targets count too
    if work > limits.max_work:
        raise LimitExceeded(f"this job is {work / 1e6:,.0f} megapixel-iterations of work, over this server's "
                            f"budget of {limits.max_work / 1e6:,.0f}: lower the size or the quality")
    content, styles = final_inputs(settings, content, styles)
    return settings, content, styles


def rerun_settings(record: dict, continue_iterations: int | None) -> Settings:
    """"Run again" (``None``) or "Continue" (``n`` more iterations from the result): ``record``'s start
    settings and seed."""
    settings = Settings.from_dict({**record, "schedule": [], "stop_after": None})
    if continue_iterations is not None:
        settings = dataclasses.replace(settings, multiscale=False, iterations=continue_iterations)
    return settings


def rerun_note(job_id: str, content: Image.Image | None, start: Image.Image | None,
               continue_iterations: int | None) -> str | None:
    """The note of a job run again or continued, or SettingError when its images or result are gone."""
    if content is None:
        raise SettingError("this job's images are no longer kept: start it again from the page")
    if continue_iterations is not None and start is None:
        raise SettingError("only a finished job can be continued")
    return f"continues job {job_id[:8]} from its result" if start is not None else None



def start_checkpoint(image: Image.Image) -> Checkpoint:
    """A "Continue" job starts from a finished job's result: a checkpoint at its first (only) scale."""
    return Checkpoint(scale=1, iteration=0, image=image_to_tensor(image), events=[], control_version=0)

