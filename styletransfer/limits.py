"""The server's and the tools' limits, each with the variable that sets it."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Mapping

__all__ = ["Limits"]


def _limit(default, variable: str, help: str, scale: float = 1):
    return field(default=default, metadata={"variable": variable, "help": help, "scale": scale})


@dataclass(frozen=True)
class Limits:
    max_upload_bytes: int = _limit(20 * 2**20, "STUDIO_MAX_UPLOAD_MB", "size of one uploaded file, MB", 2**20)
    max_input_pixels: int = _limit(50_000_000, "STYLETRANSFER_MAX_INPUT_PIXELS",
                                   "pixels of an input image (bombs are refused before decoding)")
    max_request_pixels: int = _limit(100_000_000, "STUDIO_MAX_REQUEST_PIXELS",
                                     "pixels of all the images of one request together, checked before decoding")
    max_size: int = _limit(1024, "STUDIO_MAX_SIZE", "long side of a result, px")
    max_print_size: int = _limit(4096, "STUDIO_MAX_PRINT_SIZE", "long side of a print made from a result, px")
    max_iterations: int = _limit(2000, "STUDIO_MAX_ITERATIONS", "iterations at the final scale")
    max_styles: int = _limit(4, "STUDIO_MAX_STYLES", "paintings blended in one job")
    max_queued_per_session: int = _limit(3, "STUDIO_MAX_QUEUED_PER_SESSION", "queued or running jobs per session")
    max_queued_per_client: int = _limit(6, "STUDIO_MAX_QUEUED_PER_CLIENT",
                                        "queued or running jobs per client address, all its sessions together")
    max_new_sessions_per_minute: int = _limit(30, "STUDIO_MAX_NEW_SESSIONS_PER_MIN",
                                              "sessions a client address may start in a minute")
    max_stored_uploads: int = _limit(64, "STUDIO_MAX_STORED_UPLOADS",
                                     "uploaded files kept on the server, all sessions together (oldest go first)")
    max_queued_total: int = _limit(20, "STUDIO_MAX_QUEUED_TOTAL", "queued jobs on the server")
    max_jobs_kept_per_session: int = _limit(10, "STUDIO_MAX_JOBS_KEPT", "finished jobs kept per session")
    frame_history: int = _limit(120, "STUDIO_FRAME_HISTORY", "time-lapse frames kept per job")
    frame_interval: float = _limit(0.25, "STUDIO_FRAME_INTERVAL_S", "seconds between preview frames")
    max_work: float = _limit(2e9, "STUDIO_MAX_WORK", "pixels × iterations a job may take (coarse scales included)")
    max_job_seconds: float = _limit(3600, "STUDIO_MAX_JOB_S", "seconds a job may run; then it stops, image kept")
    job_ttl_s: float = _limit(24 * 3600, "STUDIO_JOB_TTL", "seconds a finished job and its downloads are kept")
    checkpoint_s: float = _limit(5, "STUDIO_CHECKPOINT_S", "seconds between a running job's checkpoints (Redis)")
    worker_lost_s: float = _limit(60, "STUDIO_WORKER_LOST_S", "seconds without a heartbeat before a job is "
                                  "run again elsewhere (Redis backend)")
    worker_stop_s: float = _limit(20, "STUDIO_WORKER_STOP_S", "seconds a stopping worker waits for an absent Redis "
                                  "to hand its job back; then it exits, the job recovered when Redis returns")

    def max_request_bytes(self, uploads: int) -> int:
        """A multipart request body carrying ``uploads`` files, with a megabyte for the rest."""
        return uploads * self.max_upload_bytes + 2**20

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> "Limits":
        """Defaults overridden by ``environ``'s variables; a malformed value is one clear error at start-up."""
        values = {}
        for f in dataclasses.fields(cls):
            raw = environ.get(f.metadata["variable"])
            if raw is None or not raw.strip():
                continue
            try:
                number = float(raw) * f.metadata["scale"]
            except ValueError:
                raise ValueError(f"{f.metadata['variable']} must be a number, not {raw!r}") from None
            if not number > 0 or number == float("inf"):
                raise ValueError(f"{f.metadata['variable']} must be a positive number, not {raw!r}")
            values[f.name] = int(number) if f.type in ("int", int) else number
        return cls(**values)
