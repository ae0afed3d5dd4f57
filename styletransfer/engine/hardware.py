"""Which device and which precision a run uses, the default number of iterations there, and giving freed memory
back to the device."""
from __future__ import annotations

import contextlib
import ctypes
import functools
import gc
import os
import platform
from typing import Callable

import torch

__all__ = ["autocast", "cpu_has_fast_bf16", "default_coarse_factor", "default_draft_backbone", "default_iterations",
           "describe_machine", "pick_device", "pick_precision", "release_freed_memory"]


def pick_device(device: str = "auto") -> torch.device:
    """``auto``: cuda if present, else mps, else cpu."""
    if device != "auto":
        dev = torch.device(device)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device {device!r} requested but CUDA is not available on this machine")
        if dev.type == "mps" and not torch.backends.mps.is_available():
            raise ValueError(f"device {device!r} requested but MPS is not available on this machine")
        return dev
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def _cpuinfo(field: str) -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next((line.split(":", 1)[1].strip() for line in f if line.startswith(field)), "")
    except OSError:
        return ""


def cpu_has_fast_bf16() -> bool:
    """AVX-512-BF16 or AMX: oneDNN then runs bf16 convolutions about twice as fast as fp32."""
    return any(flag in _cpuinfo("flags").split() for flag in ("avx512_bf16", "amx_bf16"))


def cpu_has_amx() -> bool:
    """AMX: oneDNN's bf16 convolutions take its tile kernels (faster, and more memory a pass)."""
    return "amx_bf16" in _cpuinfo("flags").split()


def describe_machine() -> str:
    """One line naming the CPU and its kind, cores, torch and its threads, and the GPU."""
    flags = _cpuinfo("flags").split()
    kind = ("AMX, AVX-512-BF16: bf16" if cpu_has_amx() else "AVX-512-BF16: bf16" if cpu_has_fast_bf16()
            else "AVX-512, no bf16: fp32" if "avx512f" in flags else "AVX2 only: fp32" if "avx2" in flags else "fp32")
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
    return (f"{_cpuinfo('model name') or platform.processor() or platform.machine()} ({kind}), {os.cpu_count()} "
            f"cores, torch {torch.__version__} ({torch.get_num_threads()} threads), {gpu}")


def pick_precision(device: torch.device, precision: str = "auto") -> str:
    """``auto``: bf16 autocast on CUDA and on CPUs with native bf16, else fp32."""
    if precision not in ("auto", "fp32", "bf16"):
        raise ValueError(f"precision must be auto, fp32 or bf16, not {precision!r}")
    if precision != "auto":
        return precision
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return "bf16"
    if device.type == "cpu" and cpu_has_fast_bf16():
        return "bf16"
    return "fp32"


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """The context the network runs in: bf16 autocast, or nothing for fp32."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def default_channels_last(device: torch.device) -> bool:
    """The memory format the network runs in when a run does not say: channels_last on CUDA and on a CPU
    (docs/speed.md: the floor and the engine in both formats)."""
    return device.type in ("cuda", "cpu")


def default_iterations(device: torch.device | str = "auto") -> int:
    """Final-scale iterations for 'default quality' on ``device`` (docs/speed.md: what each costs)."""
    dev = pick_device(device) if device == "auto" else torch.device(device)
    return 25 if dev.type == "cpu" else 300


def default_coarse_factor(device: torch.device | str = "auto") -> float:
    """Coarser scales' iterations over the final scale's on ``device``: 1.8 on a CPU, 0 (doubling) on a GPU."""
    dev = pick_device(device) if device == "auto" else torch.device(device)
    return 1.8 if dev.type == "cpu" else 0.0


def default_draft_backbone(device: torch.device | str, backbone: str) -> str:
    """The network for the coarse scales: EfficientNet-Lite0 under VGG19 on a CPU, else none (docs/backbones.md)."""
    dev = pick_device(device) if device == "auto" else torch.device(device)
    return "efficientnet-lite0" if dev.type == "cpu" and backbone == "vgg19" else "none"


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None where the C library has none (macOS, musl)."""
    try:
        return ctypes.CDLL(None).malloc_trim  # the C library this process runs on
    except (OSError, AttributeError):
        return None


def release_freed_memory(device: torch.device, collect: bool = True) -> None:
    """Give freed but resident memory back to the system (``collect``: Python's cycles first); CPU only."""
    # glibc keeps freed tensors' heap pages resident until trimmed; a GPU's allocated bytes exclude its cache
    if collect:
        gc.collect()
    trim = _malloc_trim() if device.type == "cpu" else None
    if trim is not None:
        trim(0)
