"""The memory budget: each scale's estimated peak, and the tiles and L-BFGS history that keep it inside."""
from __future__ import annotations

import dataclasses
import functools
import math
import os
import weakref
from dataclasses import dataclass
from typing import Callable

import torch

from ..settings import SettingError
from .hardware import cpu_has_amx, release_freed_memory
from .tiles import NetGeometry, tiled_work_factor

__all__ = ["ACTIVATION_FACTOR", "BudgetTooSmall", "DeviceMemory", "MemoryBudget", "NetMemory", "ScaleMemory",
           "available_memory", "held_memory", "trimmer"]

GB = 2**30
# Peak RSS of an iteration over the bytes autograd saves, measured for VGG19 on the CPU: 1.36 (bf16) and 1.28
# (fp32) at 512-1024 px (the backward's gradients of the largest layers, alive at once); tiled, 1.7-1.9 at
# 1024-1448 px when each tile starts from freed memory given back (:func:`trimmer`; without, 3.2-5.2 and growing
# with the allocator's leftovers). docs/prints.md has the measures.
ACTIVATION_FACTOR = 1.5
TILED_ACTIVATION_FACTOR = 2.5
# AMX's bf16 kernels hold more for a tiled pass (oneDNN's cached primitives, a set per tile shape): up to 0.23 GB
# over the estimate above on a Xeon with AMX (VGG19, 768-1024 px, 144-336-px tiles), none with AMX off
# (docs/prints.md "On a CPU with AMX")
AMX_TILED_EXTRA = 0.3 * 2**30
PIXEL = 12            # bytes of one float32 RGB pixel
IMAGE_COPIES = 7      # the pixels, their gradient, the photo, the painting, a reported frame, two temporaries
                      # (the photo is not kept through the iterations: one copy of slack)
MIN_CORE = 128        # px: a tile's core below this is mostly margin
LBFGS_HISTORIES = (16, 8, 4, 2)  # pairs kept, tried in turn where the budget is short


# NetMemory per loaded network: keyed by its first child module, which a truncated copy shares and a reloaded
# checkpoint replaces (the entry then goes with the old network)
_COUNTED: "weakref.WeakKeyDictionary[torch.nn.Module, dict]" = weakref.WeakKeyDictionary()


class BudgetTooSmall(SettingError):
    """The budget cannot hold a scale even in the smallest tiles; ``str()`` says the largest size it can."""


@dataclass(frozen=True)
class NetMemory:
    """One forward and backward's memory: ``fixed`` bytes, ``per_pixel`` per input pixel, and
    ``targets_per_pixel`` for the content targets."""

    fixed: float
    per_pixel: float
    targets_per_pixel: float
    tiled_extra: float = 0.0  # bytes a tiled pass holds beyond its activations on these kernels (AMX)

    @classmethod
    def of(cls, net, layers: tuple[str, ...], content_layers: tuple[str, ...], autocast, precision: str, side: int,
           device: torch.device) -> "NetMemory":
        """:meth:`count`, cached per network, layers, precision and device, with what these kernels add."""
        anchor = next(net.children(), None)
        counted = {} if anchor is None else _COUNTED.setdefault(anchor, {})
        key = (layers, content_layers, precision, str(device), side)
        if key not in counted:
            counted[key] = cls.count(net, layers, content_layers, autocast, side, device)
        amx = device.type == "cpu" and precision == "bf16" and cpu_has_amx()
        return dataclasses.replace(counted[key], tiled_extra=AMX_TILED_EXTRA if amx else 0.0)

    @classmethod
    def count(cls, net, layers: tuple[str, ...], content_layers: tuple[str, ...], autocast, side: int,
              device: torch.device) -> "NetMemory":
        """Counted on ``net`` at ``side`` and twice ``side`` px (``side``: at least what the layers need)."""
        saved = []
        for s in (side, 2 * side):
            storages: dict[int, int] = {}

            def keep(t: torch.Tensor) -> torch.Tensor:
                storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
                return t

            x = torch.zeros(1, 3, s, s, device=device, requires_grad=True)
            with torch.autograd.graph.saved_tensors_hooks(keep, lambda t: t), torch.enable_grad(), autocast():
                feats = net(x, layers)
            saved.append(sum(storages.values()))
        per_pixel = (saved[1] - saved[0]) / (3 * side * side)
        targets = sum(f.element_size() * f[0].numel() for l, f in feats.items() if l in content_layers)
        targets /= (2 * side) ** 2  # kept in the features' dtype, per image pixel
        return cls(max(0.0, saved[0] - per_pixel * side * side), per_pixel, targets)


@dataclass(frozen=True)
class ScaleMemory:
    """How a scale runs: ``core`` px tiles (None: the whole image at once), ``history`` L-BFGS pairs, and its
    estimated ``peak`` bytes."""

    core: int | None
    history: int
    peak: float
    trim_above: float = math.inf  # resident bytes above which a pass starts from freed memory given back


class MemoryBudget:
    """Plans each scale inside ``budget`` bytes for a process holding ``held``."""

    def __init__(self, budget: float, held: float, net: NetMemory, geometry: Callable[[], NetGeometry],
                 optimizer: str):
        self.budget, self.held, self.net, self.optimizer = budget, held, net, optimizer
        self._geometry_of = geometry

    def holding(self, held: float) -> "MemoryBudget":
        """The same budget for the process holding ``held`` bytes now."""
        now = MemoryBudget(self.budget, held, self.net, self._geometry_of, self.optimizer)
        if "geometry" in self.__dict__:
            now.geometry = self.geometry
        return now

    @functools.cached_property
    def geometry(self) -> NetGeometry:
        return self._geometry_of()

    def peak(self, height: int, width: int, core: int | None, history: int) -> float:
        """Estimated peak bytes of a ``height`` × ``width`` scale in ``core`` px tiles (None: untiled)."""
        state = PIXEL * (IMAGE_COPIES + (2 + 2 * history if self.optimizer == "lbfgs" else 2))
        return (self.held + (state + self.net.targets_per_pixel) * height * width
                + self.network_pass(height, width, core))

    def network_pass(self, height: int, width: int, core: int | None) -> float:
        """Estimated bytes of one forward and backward: the whole image, or a ``core`` px tile and its margins."""
        if core is None:
            return self.net.fixed + self.net.per_pixel * ACTIVATION_FACTOR * height * width
        m = self.geometry.margin
        seen = TILED_ACTIVATION_FACTOR * min(height, core + 2 * m) * min(width, core + 2 * m)
        return self.net.fixed + self.net.tiled_extra + self.net.per_pixel * seen

    def plan(self, height: int, width: int) -> ScaleMemory:
        """The whole image if it fits, else the largest tiles that do; :class:`BudgetTooSmall` if none does."""
        planned = self._plan(height, width)
        if planned is None:
            raise BudgetTooSmall(self.refusal(height, width))
        return planned

    def _plan(self, height: int, width: int) -> ScaleMemory | None:
        histories = LBFGS_HISTORIES if self.optimizer == "lbfgs" else (0,)
        untiled = self.peak(height, width, None, histories[0])
        if untiled <= self.budget:
            return ScaleMemory(None, histories[0], untiled, self.budget - self.network_pass(height, width, None))
        align, margin = self.geometry.align, self.geometry.margin
        # tiles whose margins do not outweigh their core first, the longest history first; then smaller tiles
        for smallest in (max(MIN_CORE, 4 * margin), MIN_CORE):
            for history in histories:
                core = max(height, width) // align * align
                while core >= smallest:
                    peak = self.peak(height, width, core, history)
                    if peak <= self.budget:
                        return ScaleMemory(core, history, peak, self.budget - self.network_pass(height, width, core))
                    core -= align
        return None

    def refusal(self, height: int, width: int) -> str:
        """One line: the size asked is beyond the budget, and the largest it can do."""
        long_side, aspect = max(height, width), min(height, width) / max(height, width)
        low, high = 0, long_side
        while low < high:  # the largest long side whose smallest tiles fit
            mid = (low + high + 1) // 2
            short = max(1, round(mid * aspect))
            fits = self._plan(*((short, mid) if height <= width else (mid, short))) is not None
            low, high = (mid, high) if fits else (low, mid - 1)
        budget = f"{self.budget / GB:.1f} GB"
        if low < MIN_CORE:
            return (f"a memory budget of {budget} is too small for this network even in the smallest tiles; "
                    f"allow more memory")
        return (f"{long_side} px does not fit in a memory budget of {budget}, even in tiles: the largest it can do "
                f"is {low} px; choose a smaller size or allow more memory")



@dataclass(frozen=True)
class DeviceMemory:
    """A run's :class:`MemoryBudget` as plain numbers: what a device can paint, for a process with no network."""

    budget: float
    held: float
    net: NetMemory
    align: int
    margin: int
    optimizer: str = "lbfgs"

    @classmethod
    def of(cls, budget: MemoryBudget) -> "DeviceMemory":
        geometry = budget.geometry
        return cls(budget.budget, budget.held, budget.net, geometry.align, geometry.margin, budget.optimizer)

    def work_factor(self, height: int, width: int) -> float | None:
        """An iteration's work at this size over an untiled one's (1: whole, more: tiled), None past the budget."""
        geometry = NetGeometry({}, self.align, self.margin)
        try:
            plan = MemoryBudget(self.budget, self.held, self.net, lambda: geometry, self.optimizer).plan(height, width)
        except BudgetTooSmall:
            return None
        return 1.0 if plan.core is None else tiled_work_factor(height, width, plan.core, self.margin)

    def to_dict(self) -> dict:
        return {"budget": self.budget, "held": self.held, "fixed": self.net.fixed, "per_pixel": self.net.per_pixel,
                "targets_per_pixel": self.net.targets_per_pixel, "tiled_extra": self.net.tiled_extra,
                "align": self.align, "margin": self.margin, "optimizer": self.optimizer}

    @classmethod
    def from_dict(cls, values: dict) -> "DeviceMemory":
        """From :meth:`to_dict`; KeyError, TypeError or ValueError when it is not one."""
        net = NetMemory(float(values["fixed"]), float(values["per_pixel"]), float(values["targets_per_pixel"]),
                        float(values.get("tiled_extra", 0.0)))  # a worker's from before it: none
        return cls(float(values["budget"]), float(values["held"]), net, int(values["align"]), int(values["margin"]),
                   str(values["optimizer"]))

def held_memory(device: torch.device) -> float:
    """Bytes this process holds now: resident memory on the CPU, allocated memory on a GPU."""
    if device.type == "cuda":
        return float(torch.cuda.memory_allocated(device))
    try:
        with open("/proc/self/statm") as f:
            return float(int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE"))
    except (OSError, ValueError, IndexError):
        return 0.0


def trimmer(device: torch.device, above: float) -> Callable[[], None]:
    """Called before each pass through the network: gives freed memory back when the process holds more than
    ``above`` bytes."""
    # glibc keeps an earlier pass's pages, which the next does not always reuse; only near the budget, as the
    # pages given back cost page faults to take again
    def trim() -> None:
        if held_memory(device) > above:
            release_freed_memory(device, collect=False)
    return trim


def peak_memory(device: torch.device) -> float:
    """The process's peak bytes: resident high-water mark on a CPU, most allocated on a GPU."""
    if device.type == "cuda":
        return float(torch.cuda.max_memory_allocated(device))
    try:
        with open("/proc/self/status") as f:
            return float(next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) * 1024)
    except (OSError, StopIteration, ValueError):
        return 0.0


def available_memory(device: torch.device) -> float:
    """The default budget: what this process holds plus 90 % of what is free on ``device``."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return held_memory(device) + 0.9 * free
    free = math.inf
    try:
        with open("/proc/meminfo") as f:
            fields = dict(line.split(":", 1) for line in f)
        free = int(fields["MemAvailable"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        pass
    if free == math.inf:  # no /proc (macOS): the machine's memory
        try:
            free = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2
        except (OSError, ValueError):
            return math.inf
    return held_memory(device) + 0.9 * free
