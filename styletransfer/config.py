"""The one reader of the environment: :meth:`Config.from_env`, called once where a program starts."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Mapping

from .limits import Limits

__all__ = ["Config"]


@dataclass(frozen=True)
class Config:
    limits: Limits = field(default_factory=Limits)
    redis_url: str | None = None
    secret_key: str | None = None
    models_dir: str | None = None
    state_dir: str = field(default_factory=lambda: os.path.join(os.path.expanduser("~"), ".local", "share",
                                                                "style-studio"))
    device: str = "auto"
    host: str = "127.0.0.1"
    port: int = 8050
    metrics_dir: str | None = None
    public_url: str | None = None
    trusted_proxies: int = 0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Config":
        """The configuration the environment gives; a malformed value is one clear ValueError."""
        env = os.environ if environ is None else environ
        value = lambda name: env.get(name) or None  # noqa: E731 — an empty variable is an unset one
        port = value("PORT") or "8050"
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"PORT must be a port number, not {port!r}")
        defaults = cls()
        public = value("STUDIO_PUBLIC_URL")
        if public and not public.startswith(("http://", "https://")):
            raise ValueError(f"STUDIO_PUBLIC_URL must be an http:// or https:// address, not {public!r}")
        proxies = value("STUDIO_TRUSTED_PROXIES") or "0"
        if not proxies.isdigit():
            raise ValueError(f"STUDIO_TRUSTED_PROXIES must be a number of proxies (0, 1, 2 …), not {proxies!r}")
        return cls(limits=Limits.from_env(env), redis_url=value("STUDIO_REDIS_URL"),
                   secret_key=value("STUDIO_SECRET_KEY"), models_dir=value("STUDIO_MODELS_DIR"),
                   state_dir=value("STUDIO_STATE_DIR") or defaults.state_dir,
                   device=value("STYLETRANSFER_DEVICE") or "auto", host=value("HOST") or defaults.host, port=int(port),
                   metrics_dir=value("PROMETHEUS_MULTIPROC_DIR"), public_url=value("STUDIO_PUBLIC_URL"),
                   trusted_proxies=int(proxies))
