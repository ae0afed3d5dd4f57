"""The time model past its largest calibrated size: calibrate to 1024 px as a worker does, then time one-scale
whole runs at 1448 and 2048 px, and print what the straight last segment and the power law through its ends
say for them. Asserts nothing.

    PYTHONPATH=. python docs/estimate_beyond.py [auto|fp32|bf16]
"""
import math, statistics, sys, time
from styletransfer.engine import Settings, StyleTransfer
from styletransfer.engine.hardware import describe_machine
from styletransfer.examples import example_image
from styletransfer.jobs.speed import calibrate

precision = sys.argv[1] if len(sys.argv) > 1 else "auto"
print(describe_machine(), time.strftime("%Y-%m-%d %H:%M"), precision, flush=True)
meter = calibrate("cpu", max_side=1024, precision=precision)
print("calibrated:", [(int(p), round(s, 3)) for p, s in meter.points], flush=True)
(p1, s1), (p2, s2) = meter.points[-2:]
b = math.log(s2 / s1) / math.log(p2 / p1)
photo, painting = example_image("hopper"), example_image("swirls")
for side in (1448, 2048):
    run = StyleTransfer(Settings(size=side, iterations=4, multiscale=False, seed=0, device="cpu",
                                 precision=precision, frame_every=10**9))
    for _ in run.run(photo, [painting]):
        pass
    w, h = run.result.size
    measured = statistics.median(run.iteration_seconds[1:])
    line = meter.seconds_per_iteration(w * h)  # the model: its last segment drawn on
    power = s2 * (w * h / p2) ** b
    print(f"{side} px ({w}x{h}): measured {measured:.2f} s/it (runs {[round(x, 2) for x in run.iteration_seconds]}); "
          f"segment {line:.2f} ({line / measured:.2f}x), power law b={b:.3f} {power:.2f} ({power / measured:.2f}x), "
          f"tiles {run.scales[-1]['tile']}", flush=True)
