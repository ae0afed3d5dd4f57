"""The one job loop for both backends; each backend supplies only where its output goes (a :class:`JobSink`)."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable, Protocol, Sequence

from PIL import Image

from ..engine import Checkpoint, StyleTransfer
from ..limits import Limits
from .model import DONE, EXPECTED_FAILURES, FAILED, STOPPED, ServiceUnavailable, user_message
from .progress import ProgressRecorder, Update, encode_timelapse

log = logging.getLogger(__name__)

__all__ = ["JobRun", "JobSink", "run_job", "time_limit_note"]


class JobSink(Protocol):
    """Where one running job's updates go: what differs between the backends."""

    @property
    def lost(self) -> bool:
        """Another worker owns the job now (or this one gave it back): write nothing more."""

    def latest_frame(self) -> bytes | None:
        """The preview the page shows now (the final frame is skipped when it is the same)."""

    def apply(self, update: Update) -> None:
        """One iteration's changes (losses, an event, a preview, the time-lapse)."""

    def after_iteration(self, transfer: StyleTransfer) -> None:
        """Between two iterations, e.g. a checkpoint to resume from elsewhere."""

    def note(self, text: str) -> None:
        """A line the job carries (e.g. it was stopped at the time limit)."""

    def finish(self, status: str, transfer: StyleTransfer, timelapse_mp4: bytes | None,
               speed_sample: tuple[float, float] | None) -> None:
        """The job has ended ``status``: its result, record and time-lapse, and (seconds, work) for the speed."""

    def fail(self, message: str) -> None:
        """The job failed; ``message`` is the one line its user sees."""


@dataclass
class JobRun:
    """One run of one job: engine, inputs, checkpoint, sink; ``measure_speed``: a fair speed sample."""
    job_id: str
    new_transfer: Callable[[], StyleTransfer]
    content: Image.Image
    styles: Sequence[Image.Image]
    resume: Checkpoint | None
    recorder: ProgressRecorder
    sink: JobSink
    measure_speed: bool = True


def time_limit_note(limits: Limits) -> str:
    return (f"stopped at this server's time limit of {limits.max_job_seconds / 60:.0f} minutes per job; "
            "the image so far is kept")


def run_job(run: JobRun, limits: Limits, stats) -> None:
    """Run one job to its end through its sink; a failure ends the job, not the caller."""
    job_id, sink, recorder = run.job_id, run.sink, run.recorder
    transfer = None
    try:
        transfer = run.new_transfer()
        controls = transfer.controls
        elapsed = 0.0
        for p in transfer.run(run.content, run.styles, resume=run.resume):
            elapsed = p.elapsed
            sink.apply(recorder.record(p))
            sink.after_iteration(transfer)
            if sink.lost:  # another worker owns the job now, or this one gave it back
                return
            if p.elapsed > limits.max_job_seconds and not controls.stopped:
                controls.stop()
                sink.note(time_limit_note(limits))
        if sink.lost:
            return
        final = recorder.final_frame(transfer.result, sink.latest_frame())
        if final is not None:
            sink.apply(final)
        status = STOPPED if transfer.stopped else DONE
        mp4 = encode_timelapse(list(recorder.history.frames), list(transfer.result.size), "mp4")
        sample = (elapsed, transfer.work_done) if run.measure_speed and elapsed and transfer.iterations_done else None
        sink.finish(status, transfer, mp4, sample)
        stats.job_finished(status, str(transfer.device), transfer.settings.size, elapsed, transfer.iterations_done)
    except ServiceUnavailable:  # the store is away: nothing can be written; the job stays for recovery
        raise
    except Exception as exc:  # a failing job must never take the worker (or the server) with it
        if not isinstance(exc, EXPECTED_FAILURES):
            log.exception("job %s failed", job_id)
        else:  # the user gets one line; the operator the whole of it
            log.warning("job %s failed: %s", job_id, exc)
        if not sink.lost:
            sink.fail(user_message(exc))
            stats.job_finished(FAILED, str(transfer.device) if transfer else "unknown", 0, 0.0, 0)
