"""Default-quality runs (multi-scale, one process, after a warm-up) with cuDNN's heuristics and with
``cudnn.benchmark``, alternated twice, and N iterations at one scale with each (README's GPU figures).

    python docs/gpu_default_quality.py cuda 512 500
"""
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from styletransfer.engine import Settings, StyleTransfer  # noqa: E402
from styletransfer.examples import example_image  # noqa: E402


def sync():
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def timed(settings: Settings, content, style) -> tuple[float, StyleTransfer, int]:
    run = StyleTransfer(settings)
    sync()
    start = time.perf_counter()
    steps = sum(1 for _ in run.run(content, [style]))
    sync()
    return time.perf_counter() - start, run, steps


def main() -> None:
    device = sys.argv[1] if len(sys.argv) > 1 else "cuda"
    size = int(sys.argv[2]) if len(sys.argv) > 2 else 512
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 500
    content, style = example_image("hopper"), example_image("swirls")
    timed(Settings(size=128, iterations=5, multiscale=False, device=device), content, style)  # warm-up
    for benchmark in (False, True, False, True):
        torch.backends.cudnn.benchmark = benchmark
        total, run, steps = timed(Settings(size=size, device=device, seed=0, frame_every=10**9), content, style)
        single, one, _ = timed(Settings(size=size, iterations=n, multiscale=False, device=device, seed=0,
                                        frame_every=10**9), content, style)
        print(f"cudnn.benchmark={benchmark}: default quality {size} px, {steps} iterations in {total:.2f} s "
              f"(median {1000 * statistics.median(run.iteration_seconds):.2f} ms/it); {n} iterations at "
              f"{size}² one scale in {single:.2f} s (median {1000 * statistics.median(one.iteration_seconds):.2f} "
              f"ms/it)", flush=True)


if __name__ == "__main__":
    main()
