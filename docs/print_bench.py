"""A print in a memory budget: the CLI at SIZE px with ``--max-memory GB`` (tiled where a scale would not fit)
against the same run at 1024 px untiled, each in its own process. Prints the time, the peak RSS, the judged
distances (content at relu4_2, mean relative Gram distance, on fp32 VGG19 at up to 2048 px) of the print and of
the 1024-px result scaled up, and a seam score; saves the print, each run's JSON summary (its scales' plans),
and a full-size crop around where a tile border stood, under OUT. Asserts nothing.

    PYTHONPATH=. python docs/print_bench.py 2048 2 /tmp/prints
"""
import json
import subprocess
import sys
import time
from pathlib import Path

from PIL import Image

from styletransfer import images
from styletransfer.engine.hardware import describe_machine
from styletransfer.examples import example_image
from styletransfer.settings import Settings
from styletransfer.tools.quality import Yardstick, seam_score


def run_cli(out: Path, size: int, budget: float | None, photo: Path, painting: Path) -> tuple[float, float]:
    """Seconds and peak RSS (GB, the CLI's own high-water mark from its --json) of one CLI run in a fresh process."""
    cmd = [sys.executable, "-m", "styletransfer", str(photo), str(painting), "-o", str(out), "--size", str(size),
           "--seed", "1", "--quiet", "--json"]
    if budget is not None:
        cmd += ["--max-memory", str(budget)]
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"the CLI failed: {done.stderr.strip()}")
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    out.with_suffix(".json").write_text(json.dumps(summary, indent=1))  # its scales: the plan, tiles and history
    return time.perf_counter() - start, summary["memory"]["peak_gb"]


def main(size: int, budget: float, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    photo, painting = out / "photo.png", out / "painting.png"
    example_image("hopper").save(photo)
    example_image("swirls").save(painting)
    print(describe_machine(), time.strftime("%Y-%m-%d"))
    seconds, peak = run_cli(out / f"print-{size}.png", size, budget, photo, painting)
    print(f"{size} px in {budget} GB: {seconds:.0f} s, peak RSS {peak:.2f} GB")
    ref_seconds, ref_peak = run_cli(out / "untiled-1024.png", 1024, None, photo, painting)
    print(f"1024 px untiled: {ref_seconds:.0f} s, peak RSS {ref_peak:.2f} GB")
    judged = min(size, 2048)
    yardstick = Yardstick(Image.open(photo).convert("RGB"), Image.open(painting).convert("RGB"), Settings(size=judged))
    made = Image.open(out / f"print-{size}.png").convert("RGB")
    reference = Image.open(out / "untiled-1024.png").convert("RGB").resize(made.size, Image.Resampling.LANCZOS)
    for name, image in (("print", made), ("1024 scaled up", reference)):
        content, style = yardstick(images.image_to_tensor(image))
        print(f"{name:>15}: content {content:.3f}, style {style:.3f} (judged at {judged} px), "
              f"seam score {seam_score(image):.3f}")
    w, h = made.size
    left, top = max(0, w // 2 - 256) // 16 * 16, max(0, h // 2 - 256) // 16 * 16
    made.crop((left, top, left + 512, top + 512)).save(out / f"crop-{size}.png")
    print(f"saved {out}/print-{size}.png and a 512-px full-size crop, crop-{size}.png")


if __name__ == "__main__":
    main(int(sys.argv[1]), float(sys.argv[2]), Path(sys.argv[3]))
