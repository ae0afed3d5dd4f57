"""Does a one-scale run keep its memory budget? The CLI at SIZE px, 3 iterations, once per budget (GB), each in
its own process: the plan it chose (tile core, L-BFGS history), its estimated peak, its peak RSS and the headroom
left (negative: over the budget). Asserts nothing. Run it on each CPU kind (AMX's kernels hold more).

    PYTHONPATH=. python docs/budget_sweep.py 768 bf16 1.25 1.3 1.35 1.4 1.45 1.5
"""
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from styletransfer.engine.hardware import describe_machine
from styletransfer.examples import example_image


def main(size: int, precision: str, budgets: list[str]) -> None:
    print(describe_machine(), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        photo, painting = Path(tmp, "photo.png"), Path(tmp, "painting.png")
        example_image("hopper").save(photo)
        example_image("swirls").save(painting)
        for budget in budgets:
            done = subprocess.run(
                [sys.executable, "-m", "styletransfer", str(photo), str(painting), "-o", str(Path(tmp, "out.png")),
                 "--size", str(size), "--iterations", "3", "--no-multiscale", "--seed", "3", "--precision",
                 precision, "--max-memory", budget, "--json", "--quiet"], capture_output=True, text=True)
            if done.returncode != 0:
                print(f"{budget} GB: {done.stderr.strip()}", flush=True)
                continue
            run = json.loads(done.stdout.strip().splitlines()[-1])
            scale, peak = run["scales"][0], run["memory"]["peak_gb"]
            print(f"{size} px {precision} in {budget} GB: tiles {scale['tile'] or 'none'}, history {scale['history']},"
                  f" estimated {scale['estimated_peak_gb']:.3f} GB, peak RSS {peak:.3f} GB, headroom "
                  f"{float(budget) - peak:+.3f} GB, {scale['seconds']:.1f} s", flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2], sys.argv[3:])
