"""The job rules both backends share, written once over a few storage steps each backend implements:
ownership (:class:`~.backend.Owned`), Run again and Continue, the downloads (the PNG with its record, the
time-lapse built once its job has ended), and forgetting a session's oldest finished jobs."""
from __future__ import annotations

import io

from PIL import Image

from .. import images
from ..limits import Limits
from ..settings import Settings
from .admission import rerun_note, rerun_settings
from .backend import Owned, Record
from .model import JobView
from .progress import encode_timelapse

__all__ = ["JobRules"]


class JobRules(Owned[Record]):
    """The rules; a backend supplies ``submit`` and the storage steps below (each raises
    :class:`~.model.JobNotFound` for a job the owner does not have)."""

    limits: Limits

    # ---------------------------------------------------------------- the rules

    def rerun(self, job_id: str, owner: str, continue_iterations: int | None = None,
              client: str | None = None) -> JobView:
        """"Run again" (same images, settings, seed) or "Continue" (more iterations from the result)."""
        content, styles, record, result = self._rerun_inputs(job_id, owner, continue_iterations is not None)
        note = rerun_note(job_id, content, result, continue_iterations)
        return self.submit(owner, content, styles, rerun_settings(record, continue_iterations), result, note, client)

    def result_image(self, job_id: str, owner: str) -> Image.Image | None:
        """The result (or, while running, the latest preview), or None before the first frame."""
        png, image, _ = self._result_parts(job_id, owner)
        return image if png is None else Image.open(io.BytesIO(png)).convert("RGB")

    def result_png(self, job_id: str, owner: str) -> bytes | None:
        """The result (or, while running, the latest preview) as PNG with the job's record embedded."""
        png, image, record = self._result_parts(job_id, owner)
        if png is not None:
            return png
        return None if image is None else images.png_bytes(image, record)

    def timelapse(self, job_id: str, owner: str, fmt: str = "mp4") -> bytes | None:
        """MP4 (built when the job ends) or GIF (built when first asked for), kept once the job has ended;
        while it runs, made from the frames so far."""
        cached, frames, size, finished = self._timelapse_parts(job_id, owner, fmt)
        if cached is not None:
            return cached
        data = encode_timelapse(frames, size, fmt)
        if finished and data is not None:
            self._keep_timelapse(job_id, fmt, data)
        return data

    def _forget_old(self, owner: str) -> None:
        """Keep the session's newest ``max_jobs_kept_per_session`` finished jobs; the rest go now."""
        finished = self._finished_ids(owner)
        self._delete(finished[: max(0, len(finished) - self.limits.max_jobs_kept_per_session)], owner)

    # ---------------------------------------------------------------- what a backend supplies

    def submit(self, owner: str, content: Image.Image, styles: list[Image.Image], settings: Settings,
               start_image: Image.Image | None = None, note: str | None = None, client: str | None = None) -> JobView:
        raise NotImplementedError

    def _rerun_inputs(self, job_id: str, owner: str, with_result: bool
                      ) -> tuple[Image.Image | None, list[Image.Image], dict, Image.Image | None]:
        """(content or None once gone, paintings, the job's record, its result if ``with_result`` and kept)."""
        raise NotImplementedError

    def _result_parts(self, job_id: str, owner: str) -> tuple[bytes | None, Image.Image | None, dict]:
        """(the stored result PNG, else None; else the latest image, or None before the first; the record)."""
        raise NotImplementedError

    def _timelapse_parts(self, job_id: str, owner: str, fmt: str
                         ) -> tuple[bytes | None, list[bytes], list | None, bool]:
        """(the kept time-lapse in ``fmt`` or None; the frames; the result's size; whether the job has ended)."""
        raise NotImplementedError

    def _keep_timelapse(self, job_id: str, fmt: str, data: bytes) -> None:
        raise NotImplementedError

    def _finished_ids(self, owner: str) -> list[str]:
        """The owner's finished jobs, oldest first."""
        raise NotImplementedError

    def _delete(self, job_ids: list[str], owner: str) -> None:
        raise NotImplementedError
