"""The loop: gradient descent on the pixels, coarse to fine, steered between iterations (:class:`Controls`,
:class:`Progress`, :class:`Checkpoint`, :class:`StyleTransfer`)."""
from __future__ import annotations

import dataclasses
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import torch
from PIL import Image

from .. import images
from ..backbones import load_backbone, min_input_side
from ..settings import SettingError, Settings, check_live, plain
from .eta import RunningEta
from .hardware import autocast, default_channels_last, pick_device, pick_precision, release_freed_memory
from .inputs import check_inputs, draft_scales, final_inputs, needed_side, run_plan, style_long_side
from .memory import (GB, BudgetTooSmall, MemoryBudget, NetMemory, ScaleMemory, available_memory, held_memory,
                     trimmer)
from .objective import Objective, TargetsInterrupted
from .optim import make_optimizer
from .resolve import resolve
from .tiles import IterationInterrupted, TiledObjective, net_geometry, tiled_work_factor
from .work import Work, relative_cost, scale_work

__all__ = ["Checkpoint", "Controls", "Progress", "StyleTransfer"]


class Controls:
    """Thread-safe handle on a running job: change the live weights (at the next iteration; the L-BFGS history
    is reset), or stop it."""

    def __init__(self, **weights):
        self._lock = threading.Lock()
        self._weights: dict = {}
        self._version = 0
        self._stop = threading.Event()
        if weights:
            self.update(**weights)

    def update(self, **weights) -> dict:
        checked = check_live(weights)
        with self._lock:
            self._weights.update(checked)
            self._version += 1
            return dict(self._weights)

    def snapshot(self) -> tuple[int, dict]:
        with self._lock:
            return self._version, dict(self._weights)

    def stop(self) -> None:
        self._stop.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()


@dataclass
class Progress:
    """One iteration's report. ``image`` is the current picture, (1, 3, H, W) in [0, 1], on the CPU."""

    iteration: int              # 1-based, counted over all scales
    total_iterations: int
    scale: int                  # 1-based index of the current scale
    scales: int
    size: tuple[int, int]       # (width, height) at this scale
    losses: dict[str, float]    # content, style, tv (normalised, unweighted) and total (weighted)
    weights: dict               # weights in force for this iteration
    elapsed: float
    eta: float
    weights_changed: bool = False
    image: torch.Tensor | None = None

    def to_image(self) -> Image.Image | None:
        return None if self.image is None else images.tensor_to_image(self.image)


@dataclass
class Checkpoint:
    """Where a run is, to resume it elsewhere: the image at its scale, and the steering so far."""

    scale: int                  # 1-based scale index the image belongs to
    iteration: int              # iterations done, over all scales
    image: torch.Tensor         # (1, 3, h, w) on the CPU
    events: list[dict]
    control_version: int        # the controls' version the run had seen


@dataclass(frozen=True)
class _Network:
    """A backbone ready to paint scales, with the settings its objective reads, its budget and its cost."""

    net: torch.nn.Module
    settings: Settings
    min_side: int               # the smallest input side its deepest layer in use needs
    memory_format: torch.memory_format
    budget: MemoryBudget
    cost: float                 # an iteration in VGG19 iterations: what the time model and the work counts are in


@dataclass(frozen=True)
class _RunInputs:
    """What every scale of a run starts from: the network of each scale, the images."""

    networks: Sequence[_Network]  # one per scale of the plan
    content: Image.Image
    styles: Sequence[Image.Image]
    colour_reference: torch.Tensor | None
    min_side: int
    generator: torch.Generator


@dataclass
class _Scale:
    """One scale of the plan, ready to iterate: its objective, the pixels and where its iterations start."""

    index: int
    side: int
    iterations: int
    first: int                  # the first iteration to run (a resumed scale skips those done)
    size: tuple[int, int]
    objective: Objective
    x: torch.Tensor
    step_work: Work             # one iteration's
    targets_share: float        # the targets' cost in iterations
    memory: ScaleMemory         # whole or in tiles, and the L-BFGS history
    before_iteration: Callable[[], None]  # gives memory back near the budget (tiles: before each tile)
    drafted: bool               # painted by the draft network: its own layers, so its own layer weights


class StyleTransfer:
    """Iterate over :class:`Progress` while stylising; ``result`` holds the final image. A record's
    ``schedule`` and ``stop_after`` replay its steering; ``iteration_cost(pixels)`` feeds the ETA."""

    def __init__(self, settings: Settings | None = None, controls: Controls | None = None,
                 device: str | torch.device | None = None, iteration_cost: Callable[[float], float] | None = None):
        self.device = pick_device(str(device) if device is not None else (settings or Settings()).device)
        self.settings = resolve(settings or Settings(), self.device)
        self.precision = pick_precision(self.device, self.settings.precision)
        self.controls = controls or Controls()
        self._eta = RunningEta(iteration_cost)
        self.result: Image.Image | None = None
        self.losses: dict[str, float] = {}
        self.iteration_seconds: list[float] = []
        self.events: list[dict] = []    # weight changes as they took effect: {iteration, weights}
        self.iterations_done = 0
        self.work_done = Work()         # what the run has done so far (iterations, pixels × iterations)
        self.scales: list[dict] = []    # each scale run: size, backbone, tiles' core (None: whole), L-BFGS history,
                                        # iterations and seconds run here
        self.budget: MemoryBudget | None = None  # the run's memory budget, once it has started
        self.stopped = False
        self._x: torch.Tensor | None = None  # the pixels being optimised, for checkpoint()
        self._scale_index = 0
        self._seen_version = 0
        self._stopped_at: int | None = None  # the scale's iteration index a stop arrived before

    def autocast(self):
        return autocast(self.device, self.precision)

    def live_weights(self) -> tuple[int, dict]:
        version, changes = self.controls.snapshot()
        return version, self.settings.live_weights(changes)

    def record(self) -> Settings:
        """The settings this run started with, how it was steered and where it stopped: what replays it."""
        return self.settings.steered(self.events, self.iterations_done if self.stopped else None)

    def checkpoint(self) -> Checkpoint | None:
        """The state between two iterations (call it while the iterator is paused), or None before any."""
        if self._x is None:
            return None
        return Checkpoint(scale=self._scale_index, iteration=self.iterations_done,
                          image=self._x.detach().float().cpu().clone(), events=[dict(e) for e in self.events],
                          control_version=self._seen_version)

    def _replay(self, next_iteration: int) -> None:
        """Hand the recorded steering for ``next_iteration`` to the controls, as it arrived live."""
        s = self.settings
        for change in s.schedule:
            if change["iteration"] == next_iteration:
                self.controls.update(**change["weights"])
        if s.stop_after is not None and next_iteration > s.stop_after:
            self.controls.stop()

    # ---------------------------------------------------------------- the run

    def run(self, content: Image.Image, styles: Sequence[Image.Image],
            resume: Checkpoint | None = None) -> Iterator[Progress]:
        """Stylise; with ``resume``, continue a run from its checkpoint (same settings and inputs)."""
        if not styles:
            raise SettingError("at least one painting is needed")
        s = self.settings.validate(n_styles=len(styles))
        check_inputs(s, content.size, [st.size for st in styles], sources=False)
        content, styles = final_inputs(s, content, styles)
        start = time.perf_counter()
        final = self._network(s)
        min_side = max(final.min_side, needed_side(s))  # the draft's too, as the work and the estimate count it
        plan = self.plan(content.size, min_side)
        total = sum(n for _, n in plan)
        self.budget = final.budget
        # a final size beyond the budget is refused before any work
        self.budget.plan(content.size[1], content.size[0])
        drafted = draft_scales(s, len(plan))
        # loaded only where it paints: a one-scale run (a print's tiles) holds no second network
        draft = self._network(_draft_settings(s)) if drafted else None
        inputs = _RunInputs(
            [draft] * drafted + [final] * (len(plan) - drafted), content, styles,
            # colour preservation matches each painting to the photo's colours, measured at the final size
            images.image_to_tensor(images.resize_long_side(content, s.size)) if s.preserve_color else None,
            min_side, torch.Generator().manual_seed(s.seed))  # the run's own generator: no process-wide seeding
        x: torch.Tensor | None = None
        done = 0
        # a change made before the first iteration is an event of iteration 1, like any other
        self._seen_version = 0
        if resume is not None:
            self.events, self._seen_version = [dict(e) for e in resume.events], resume.control_version
        for scale_index, (side, iters) in enumerate(plan, start=1):
            first = 0
            if resume is not None:
                if scale_index < resume.scale:  # finished before the checkpoint
                    done += iters
                    continue
                if scale_index == resume.scale:
                    first, done = resume.iteration - done, resume.iteration
                    self.iterations_done = done
            self._replay(done + 1)
            if self.controls.stopped and x is not None:  # stopped at the end of a scale: keep that image
                self.stopped = True
                break
            previous = x
            scale = None  # the finished scale's objective goes before the next one is planned and built
            try:
                scale = self._prepare_scale(inputs, scale_index, side, iters, first, x, resume)
            except TargetsInterrupted:  # stopped while the targets were computed: nothing done at this scale
                self.stopped = True
                if x is None:  # before the first iteration: the checkpoint's image, else the photo
                    x = resume.image if resume is not None else images.image_to_tensor(
                        images.resize_long_side(content, side))
                break
            x = scale.x
            for progress in self._iterate(scale, plan, [n.cost for n in inputs.networks], total, done, start):
                done = progress.iteration
                yield progress
            if self.stopped:
                if self._stopped_at == scale.first and previous is not None:
                    x = previous  # nothing done at this scale: keep the finished one, as between scales
                break
        scale = None
        self.result = images.tensor_to_image(x)

    def plan(self, content_wh: tuple[int, int], min_side: int) -> list[tuple[int, int]]:
        """[(long side, iterations), ...] from coarse to fine for a photo of ``content_wh``."""
        return run_plan(self.settings, content_wh, min_side)

    @staticmethod
    def _layers(net, s: Settings) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(the content layers, every layer in use, once each): the settings' own, else the backbone's."""
        content_layers = tuple(s.content_layers or net.content_layers)
        return content_layers, tuple(dict.fromkeys(content_layers + tuple(s.style_layers or net.style_layers)))

    def _network(self, s: Settings) -> _Network:
        """``s.backbone`` truncated after the deepest layer in use, with its budget, cost and input side."""
        net = load_backbone(s.backbone, self.device, s.backbone_arch)
        content_layers, layers = self._layers(net, s)
        net = net.truncated(layers)
        min_side = min_input_side(s.backbone, tuple(layers), s.backbone_arch)
        channels_last = s.channels_last if s.channels_last is not None else default_channels_last(self.device)
        if s.style_layer_weights is not None and len(s.style_layer_weights) != len(s.style_layers or net.style_layers):
            raise SettingError(f"{len(s.style_layer_weights)} style layer weights for "
                               f"{len(s.style_layers or net.style_layers)} style layers")
        # the memory budget: ``max_memory``, else the device's free memory, and this network's measures
        budget = s.max_memory * GB if s.max_memory is not None else available_memory(self.device)
        measures = NetMemory.of(net, layers, content_layers, self.autocast, self.precision, max(64, min_side),
                                self.device)
        budget = MemoryBudget(budget, held_memory(self.device), measures,
                              lambda: net_geometry(net, layers, self.device), s.optimizer)
        return _Network(net, s, min_side, torch.channels_last if channels_last else torch.contiguous_format, budget,
                        relative_cost(s.backbone, self.device, self.precision))

    def _prepare_scale(self, run: _RunInputs, scale_index: int, side: int, iters: int, first: int,
                       x: torch.Tensor | None, resume: Checkpoint | None) -> _Scale:
        """This scale's targets, objective and starting pixels."""
        network = run.networks[scale_index - 1]
        s = network.settings
        content_img = images.resize_long_side(run.content, side)
        w, h = content_img.size
        # planned from what the process holds now: earlier scales leave the network's caches behind
        release_freed_memory(self.device)
        held = held_memory(self.device)
        try:
            memory = network.budget.holding(held).plan(h, w)
        except BudgetTooSmall:  # grown past what the run's start planned for: that plan, rather than lose the work
            memory = network.budget.plan(h, w)
        self.scales.append({"size": [w, h], "backbone": s.backbone, "tile": memory.core,
                            "history": memory.history, "held_gb": round(held / GB, 3),
                            "estimated_peak_gb": round(memory.peak / GB, 3), "iterations": 0, "seconds": 0.0})
        content_t = images.image_to_tensor(content_img, self.device)
        style_ts = []
        for style in run.styles:
            st = images.image_to_tensor(images.resize_long_side(style, style_long_side(s, side, style.size, run.min_side)))
            if run.colour_reference is not None:
                st = images.match_color(st, run.colour_reference)
            style_ts.append(st.to(self.device))
        give_back = trimmer(self.device, memory.trim_above)
        if memory.core is None:
            objective = Objective(network.net, content_t, style_ts, s, self.autocast, network.memory_format,
                                  stopped=lambda: self.controls.stopped)
            before_iteration = give_back
        else:
            objective = TiledObjective(network.net, content_t, style_ts, s, self.autocast, network.memory_format,
                                       stopped=lambda: self.controls.stopped, core=memory.core,
                                       geometry=network.budget.geometry, first_call=first, before_pass=give_back)
            before_iteration = lambda: None  # noqa: E731
        step_work, targets_work = scale_work(w * h, [t.shape[-1] * t.shape[-2] for t in style_ts])
        if memory.core is not None:
            step_work = step_work * tiled_work_factor(h, w, memory.core, network.budget.geometry.margin)
        targets_share = targets_work.iterations  # in this backbone's iterations, for the running ETA
        step_work, targets_work = step_work * network.cost, targets_work * network.cost
        self.work_done = self.work_done + targets_work
        if resume is not None and scale_index == resume.scale:
            x = images.resize_tensor(resume.image, (h, w))
        elif x is None:
            x = self._initial_image(content_t, style_ts[0], run.generator)
        else:
            x = images.resize_tensor(x.detach(), (h, w))
        x = x.to(self.device).contiguous().detach().requires_grad_(True)
        self._x, self._scale_index = x, scale_index
        return _Scale(scale_index, side, iters, first, (w, h), objective, x, step_work, targets_share, memory,
                      before_iteration, network is not run.networks[-1])

    def _iterate(self, scale: _Scale, plan, costs: Sequence[float], total: int, done: int,
                 start: float) -> Iterator[Progress]:
        """The iterations of one scale, each after the steering that arrived before it."""
        s, x, objective = self.settings, scale.x, scale.objective
        optimizer = make_optimizer(s.optimizer, x, scale.memory.history)
        # the scales to come, in pixels and VGG19 iterations: their targets are a forward pass per image
        pixels = scale.size[0] * scale.size[1]
        later = [(pixels * (side2 / scale.side) ** 2, (n + scale.targets_share) * cost)
                 for (side2, n), cost in zip(plan[scale.index:], costs[scale.index:])]
        self._eta.start_scale(pixels, costs[scale.index - 1])
        self._stopped_at = None
        for i in range(scale.first, scale.iterations):
            self._replay(done + 1)
            if self.controls.stopped:
                self.stopped, self._stopped_at = True, i
                return
            version, weights = self.live_weights()
            changed = version != self._seen_version
            if changed:
                self._seen_version = version
                optimizer = make_optimizer(s.optimizer, x, scale.memory.history)
                self.events.append({"iteration": done + 1, "weights": plain(weights)})
            t0 = time.perf_counter()
            scale.before_iteration()
            try:
                # the draft's layers are its own: a change of the backbone's layer weights waits for the last scale
                losses = self._step(optimizer, objective, x,
                                    {**weights, "style_layer_weights": None} if scale.drafted else weights)
            except IterationInterrupted:  # stopped between two tiles: this iteration did not happen
                self.stopped, self._stopped_at = True, i
                return
            seconds = time.perf_counter() - t0
            self.iteration_seconds.append(seconds)
            self.scales[-1]["iterations"] += 1
            self.scales[-1]["seconds"] = round(self.scales[-1]["seconds"] + seconds, 3)
            done += 1
            self.iterations_done = done
            self.work_done = self.work_done + scale.step_work
            self.losses = losses
            now = time.perf_counter()
            remaining = self._eta.seconds_left(seconds, scale.iterations - i - 1, later)
            last = i == scale.iterations - 1 and scale.index == len(plan)
            want_frame = changed or i == 0 or last or (done % s.frame_every == 0)
            yield Progress(
                iteration=done, total_iterations=total, scale=scale.index, scales=len(plan), size=scale.size,
                losses=losses, weights=plain(weights), elapsed=now - start, eta=remaining, weights_changed=changed,
                image=x.detach().float().clamp(0, 1).cpu().contiguous() if want_frame else None,
            )

    def _step(self, optimizer, objective: Objective, x: torch.Tensor, weights: dict) -> dict[str, float]:
        """One optimiser step; the loss terms it measured, fetched from the device in one transfer."""
        terms_box: dict = {}

        def closure():
            optimizer.zero_grad(set_to_none=True)
            loss, terms = objective(x, weights)
            loss.backward()
            terms_box.update(terms, total=loss)
            return loss

        optimizer.step(closure)
        if self.settings.optimizer == "adam":
            with torch.no_grad():
                x.clamp_(0, 1)
        # one transfer for all the terms: each float() alone would wait for the device
        return dict(zip(terms_box, torch.stack([v.detach().float() for v in terms_box.values()]).tolist()))

    def _initial_image(self, content: torch.Tensor, style: torch.Tensor, generator: torch.Generator):
        init = self.settings.init
        if init == "content":
            return content.clone()
        if init == "style":
            return images.resize_tensor(style, tuple(content.shape[-2:]))
        noise = torch.rand(content.shape, generator=generator)
        return (0.5 + (noise - 0.5) * 0.5).to(content.device)


def _draft_settings(s: Settings) -> Settings:
    """The run's settings on the draft network, with its own layers and loss."""
    return dataclasses.replace(s, backbone=s.draft_backbone, backbone_arch=None, content_layers=None,
                               style_layers=None, style_layer_weights=None, style_loss=None)
