"""Seconds per iteration of each backbone at one scale, both precisions, in one process.

``PYTHONPATH=. python docs/backbone_speed.py [SIZE] [BACKBONES]`` — for each precision (bf16 only where the
CPU runs it natively) and each backbone, a single-scale L-BFGS run at its default layers on the Hopper ×
swirls example: the median of the engine's own per-iteration seconds (the first two dropped), and each
against VGG19's at the same precision. Timing is printed, never asserted.
"""
import statistics
import sys

from styletransfer.engine import Settings, StyleTransfer, cpu_has_fast_bf16
from styletransfer.engine.hardware import describe_machine
from styletransfer.examples import example_image


def seconds_per_iteration(backbone: str, size: int, precision: str, iterations: int = 8) -> float:
    run = StyleTransfer(Settings(size=size, iterations=iterations, multiscale=False, backbone=backbone,
                                 precision=precision, seed=0, device="cpu"))
    for _ in run.run(example_image("hopper"), [example_image("swirls")]):
        pass
    return statistics.median(run.iteration_seconds[2:])


def main() -> None:
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 512
    names = sys.argv[2].split(",") if len(sys.argv) > 2 else ["vgg19", "efficientnet-lite0", "efficientnet-lite1"]
    print(f"machine: {describe_machine()}; {size} px, one scale, L-BFGS")
    for precision in (["bf16"] if cpu_has_fast_bf16() else []) + ["fp32"]:
        reference = None
        for name in names:
            seconds = seconds_per_iteration(name, size, precision)
            reference = reference or seconds
            print(f"  {precision}  {name:<20} {seconds:6.3f} s/it  {seconds / reference:5.2f}× {names[0]}",
                  flush=True)


if __name__ == "__main__":
    main()
