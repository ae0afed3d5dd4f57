"""A contact sheet of photo × painting pairs: the photo, the painting, and each network's default run, with
its seconds (measured in this one process).

    PYTHONPATH=. python docs/fast_sheet.py --out sheet.jpg --size 384 PHOTO:PAINTING [PHOTO:PAINTING ...]

Networks: ``--backbones``, each BACKBONE or BACKBONE/DRAFT (DRAFT none: the backbone throughout; the default
on a CPU drafts VGG19's coarse scales on efficientnet-lite0), at the settings' defaults otherwise.
"""
from __future__ import annotations

import argparse
import time

from PIL import Image, ImageDraw

from styletransfer.engine import Settings, StyleTransfer
from styletransfer.engine.hardware import describe_machine
from styletransfer.images import load_image


def run(photo: Image.Image, painting: Image.Image, networks: str, size: int) -> tuple[Image.Image, float, str]:
    """The result, its seconds and a label naming the networks as resolved (the draft, if any)."""
    backbone, _, draft = networks.partition("/")
    transfer = StyleTransfer(Settings(size=size, backbone=backbone, draft_backbone=draft or None, seed=0,
                                      device="cpu"))
    start = time.perf_counter()
    for _ in transfer.run(photo, [painting]):
        pass
    drafted = transfer.settings.draft_backbone
    return (transfer.result, time.perf_counter() - start,
            backbone if drafted == "none" else f"{backbone} + {drafted.replace('efficientnet-', '')} draft")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("pairs", nargs="+", help="PHOTO:PAINTING image paths")
    p.add_argument("--out", default="sheet.jpg")
    p.add_argument("--size", type=int, default=384)
    p.add_argument("--backbones", default="vgg19/none,efficientnet-lite0,vgg19")
    args = p.parse_args()
    names = args.backbones.split(",")
    cell = 256
    sheet = Image.new("RGB", (cell * (2 + len(names)), (cell + 20) * len(args.pairs)), "white")
    draw = ImageDraw.Draw(sheet)
    print(f"machine: {describe_machine()}; {args.size} px, default settings")
    for row, pair in enumerate(args.pairs):
        photo_path, painting_path = pair.split(":")
        photo, painting = load_image(photo_path), load_image(painting_path)
        cells = [(photo, "photo"), (painting, "painting")]
        for name in names:
            result, seconds, label = run(photo, painting, name, args.size)
            print(f"  {pair}  {label:<28} {seconds:6.1f} s", flush=True)
            cells.append((result, f"{label} {seconds:.0f} s"))
        for col, (image, label) in enumerate(cells):
            thumb = image.copy()
            thumb.thumbnail((cell, cell))
            sheet.paste(thumb, (col * cell, row * (cell + 20) + 20))
            draw.text((col * cell + 4, row * (cell + 20) + 4), label, fill="black")
    sheet.save(args.out, quality=90)
    print(f"sheet: {args.out}")


if __name__ == "__main__":
    main()
