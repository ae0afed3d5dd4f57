"""``python -m styletransfer.training.students`` — what an iteration would cost through a slimmer VGG19."""
from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch
from torch import nn

from ..backbones import STUDENT_LAYERS, VGG19_CFG, AdaptedBackbone, build_student
from ..engine.hardware import autocast, describe_machine, pick_precision

# name -> [(width, convolutions)] per block, VGG19's five blocks
CANDIDATES: dict[str, list[tuple[int, int]]] = {
    "vgg19": VGG19_CFG,
    "vgg19 ½ width": [(w // 2, n) for w, n in VGG19_CFG],
    "vgg19 ¼ width": [(w // 4, n) for w, n in VGG19_CFG],
    "vgg19 ⅛ width": [(w // 8, n) for w, n in VGG19_CFG],
    "vgg11-deep ½ width": [(32, 1), (64, 1), (128, 2), (256, 2), (256, 2)],
    "vgg11-deep ¼ width": [(16, 1), (32, 1), (64, 2), (128, 2), (128, 2)],
}


def candidate(cfg) -> AdaptedBackbone:
    return build_student("candidate", cfg)


def macs_per_pixel(model: AdaptedBackbone) -> float:
    """Multiply-adds per input pixel of the forward pass to relu5_1, adapters included."""
    total, scale = 0.0, 1.0
    for name, layer in model.layers.items():
        if isinstance(layer, nn.Conv2d):
            total += layer.in_channels * layer.out_channels * 9 * scale
        elif isinstance(layer, nn.MaxPool2d):
            scale /= 4
        if name in model.adapters:
            total += model.adapters[name].in_channels * model.adapters[name].out_channels * scale
        if name == STUDENT_LAYERS[-1]:
            break
    return total


def seconds_per_iteration(model: AdaptedBackbone, size: int, repeat: int, precision: str = "fp32") -> float:
    image = torch.rand(1, 3, size * 3 // 4, size, requires_grad=True)
    model.requires_grad_(False)
    times = []
    for i in range(repeat + 1):  # the first is a warm-up (kernels chosen, memory allocated)
        start = time.perf_counter()
        with autocast(torch.device("cpu"), precision):  # as the engine runs it
            features = model(image, STUDENT_LAYERS)
        loss = sum(f.float().square().mean() for f in features.values())
        loss.backward()
        image.grad = None
        if i:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(size: int, repeat: int, names: list[str] | None = None, precision: str = "fp32") -> list[dict]:
    torch.manual_seed(0)
    rows = []
    for name, cfg in CANDIDATES.items():
        if names and name not in names and name != "vgg19":
            continue
        model = candidate(cfg)
        rows.append({"candidate": name, "macs_per_pixel": macs_per_pixel(model),
                     "seconds": seconds_per_iteration(model, size, repeat, precision)})
    base = rows[0]
    for row in rows:
        row["macs_ratio"] = row["macs_per_pixel"] / base["macs_per_pixel"]
        row["time_ratio"] = row["seconds"] / base["seconds"]
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m styletransfer.training.students", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=512, help="long side of the 4:3 image, px")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="fp32",
                   help="auto: bf16 where this CPU runs it natively, as the engine does")
    args = p.parse_args(argv)
    if args.size < 32 or args.repeat < 1:
        print("error: --size must be at least 32 and --repeat at least 1", file=sys.stderr)
        return 2
    precision = pick_precision(torch.device("cpu"), args.precision)
    print(f"machine: {describe_machine()}; {precision}; {args.size}×{args.size * 3 // 4} px; median of {args.repeat}")
    print(f"{'candidate':<22} {'MACs/px':>10} {'× vgg19':>8} {'s/iteration':>12} {'× vgg19':>8}")
    for row in measure(args.size, args.repeat, precision=precision):
        print(f"{row['candidate']:<22} {row['macs_per_pixel']:>10,.0f} {row['macs_ratio']:>8.3f} "
              f"{row['seconds']:>12.3f} {row['time_ratio']:>8.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
