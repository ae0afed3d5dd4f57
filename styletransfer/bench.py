"""``python -m styletransfer.bench`` — speed figures from one run on this machine.

Prints, all measured in this one process:

1. a finished default-quality stylisation at ``--size`` (cold start: weights loaded inside): seconds
   to the first reported frame and to the end;
2. the engine's median seconds per iteration at ``--size`` on one scale (VGG19, relu1_1..relu5_1 +
   relu4_2);
3. the floor: a bare forward + input-gradient backward of the same truncated network, same precision;
4. pastiche 1.6.0 at the same size and layers (if installed);
5. the ratios engine/floor and pastiche/engine.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time

import torch


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), cpu)
    except OSError:
        pass
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
    return (f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads), "
            f"{gpu}")


def median_seconds(fn, repeats: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main(argv=None) -> int:
    from .engine import Settings, StyleTransfer, pick_device, pick_precision
    from .examples import example_image
    from .images import resize_long_side

    p = argparse.ArgumentParser(prog="python -m styletransfer.bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--iterations", type=int, default=8, help="timed iterations per measurement")
    p.add_argument("--device", default="auto")
    p.add_argument("--precision", default="auto")
    p.add_argument("--skip-full", action="store_true", help="skip the finished default-quality run")
    p.add_argument("--skip-pastiche", action="store_true")
    p.add_argument("--gpu-run", type=int, default=0, metavar="N",
                   help="also time N iterations of one full-size scale end to end (e.g. 500 on a GPU)")
    args = p.parse_args(argv)

    device = pick_device(args.device)
    precision = pick_precision(device, args.precision)
    content = resize_long_side(example_image("hopper"), args.size)
    content = content.crop((0, 0, min(content.width, args.size), min(content.height, args.size)))
    content = content.resize((args.size, args.size))  # square, so every measurement has the same pixels
    style = example_image("swirls")
    rows: list[tuple[str, str]] = []
    print(f"machine: {machine()}")
    print(f"device {device}, precision {precision}, {args.size}×{args.size} px", flush=True)

    if not args.skip_full:
        first = []
        t0 = time.perf_counter()
        run = StyleTransfer(Settings(size=args.size, device=args.device, precision=args.precision, seed=0))
        for progress in run.run(content, [style]):
            if not first:
                first.append(time.perf_counter() - t0)
        total = time.perf_counter() - t0
        rows.append(("first frame after start (cold, weights loaded inside)", f"{first[0]:.2f} s"))
        rows.append((f"finished default-quality run ({progress.iteration} iterations, "
                     f"{progress.scales} scales)", f"{total:.1f} s"))
        print(f"full run: first frame {first[0]:.2f} s, finished {total:.1f} s", flush=True)

    # engine, one scale
    run = StyleTransfer(Settings(size=args.size, iterations=args.iterations + 1, multiscale=False,
                                 device=args.device, precision=args.precision, seed=0))
    for _ in run.run(content, [style]):
        pass
    engine = statistics.median(run.iteration_seconds[1:])
    rows.append((f"engine, s/iteration (median of {args.iterations})", f"{engine:.3f}"))
    print(f"engine: {engine:.3f} s/iteration", flush=True)

    # floor: the same truncated network, forward + gradient w.r.t. the input, nothing else
    from .backbones import load_backbone
    net = load_backbone("vgg19", device)
    layers = list(net.content_layers) + list(net.style_layers)
    net = net.truncated(layers)
    x = torch.rand(1, 3, args.size, args.size, device=device, requires_grad=True)
    # the engine's memory format: channels_last on CUDA, applied to the network's input
    memory_format = torch.channels_last if device.type == "cuda" else torch.contiguous_format
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")

    def floor_step():
        with autocast:
            out = net(x.contiguous(memory_format=memory_format), layers)
        torch.autograd.grad(sum(o.float().sum() for o in out.values()), x)

    floor = median_seconds(floor_step, args.iterations)
    rows.append(("floor: forward + input-gradient backward, s/iteration", f"{floor:.3f}"))
    rows.append(("engine / floor", f"{engine / floor:.2f}×"))
    print(f"floor: {floor:.3f} s/iteration", flush=True)

    if not args.skip_pastiche:
        try:
            from pastiche.pastiche import PasticheArtist
        except ImportError:
            print("pastiche not installed: skipped", file=sys.stderr)
        else:
            with tempfile.TemporaryDirectory() as tmp:
                cpath, spath = os.path.join(tmp, "c.png"), os.path.join(tmp, "s.png")
                content.save(cpath)
                style.save(spath)
                artist = PasticheArtist(cpath, [spath], size=args.size, device=str(device))
                past = median_seconds(artist.draw, args.iterations)
            rows.append(("pastiche 1.6.0, s/iteration (fp32, its defaults)", f"{past:.3f}"))
            rows.append(("pastiche / engine (speed-up)", f"{past / engine:.2f}×"))
            print(f"pastiche: {past:.3f} s/iteration", flush=True)

    if args.gpu_run:
        run = StyleTransfer(Settings(size=args.size, iterations=args.gpu_run, multiscale=False,
                                     device=args.device, precision=args.precision, seed=0))
        t = time.perf_counter()
        for _ in run.run(content, [style]):
            pass
        rows.append((f"{args.gpu_run} iterations at {args.size}² end to end", f"{time.perf_counter() - t:.2f} s"))

    width = max(len(r[0]) for r in rows)
    print()
    print(f"| {'measurement':<{width}} | value |")
    print(f"|{'-' * (width + 2)}|-------|")
    for name, value in rows:
        print(f"| {name:<{width}} | {value} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
