"""One photo × one painting through every backbone available here, as a contact sheet with s/iteration.

    python docs/contact_sheet.py --own tiny.pt --out docs/backbones.jpg [--size 512]

Rows: the embedded VGG19; torchvision's vgg16, alexnet, resnet50, googlenet where their weights are
cached (skipped, and said, where not); the checkpoint given with ``--own`` trained and the same
architecture untrained.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile

from PIL import Image, ImageDraw

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from styletransfer import StyleTransfer, nets  # noqa: E402
from styletransfer.backbones import WeightsUnavailable  # noqa: E402
from styletransfer.examples import example_image  # noqa: E402
from styletransfer.settings import Settings  # noqa: E402


def untrained_copy(checkpoint: str, folder: str) -> str:
    """The same architecture and classes as ``checkpoint``, with the fresh initialisation."""
    import torch

    state = torch.load(checkpoint, weights_only=True)
    model = nets.build_net(nets.NetConfig.from_dict(state["config"]))
    state["state_dict"] = {k: v for k, v in model.state_dict().items()}
    path = os.path.join(folder, "untrained.pt")
    torch.save(state, path)
    return path


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--own", required=True, help="a checkpoint of python -m styletransfer.training.train")
    p.add_argument("--out", default="docs/backbones.jpg")
    p.add_argument("--size", type=int, default=512)
    args = p.parse_args()
    photo, painting = example_image("hopper"), example_image("swirls")
    with tempfile.TemporaryDirectory() as tmp:
        untrained = untrained_copy(args.own, tmp)
        runs = [("vgg19 (embedded Caffe)", dict(backbone="vgg19"))]
        runs += [(name, dict(backbone=name)) for name in ("efficientnet-lite0", "efficientnet-lite1", "vgg16",
                                                          "alexnet", "resnet50", "googlenet")]
        runs += [("own, trained on demo data", dict(backbone=args.own)),
                 ("own, untrained", dict(backbone=untrained))]
        tiles, skipped = [], []
        for label, kw in runs:
            run = StyleTransfer(Settings(size=args.size, seed=1, frame_every=10**9, **kw))
            try:
                for _ in run.run(photo, [painting]):
                    pass
            except WeightsUnavailable:
                skipped.append(label)
                print(f"{label}: weights not on this machine, skipped", flush=True)
                continue
            per_iter = statistics.median(run.iteration_seconds[-20:])  # the final scale
            print(f"{label}: {per_iter:.3f} s/iteration at the final scale", flush=True)
            tiles.append((f"{label} · {per_iter:.2f} s/it", run.result))
    w = 260
    thumbs = [(t, im.resize((w, round(im.height * w / im.width)))) for t, im in
              [("photo", photo), ("painting", painting)] + tiles]
    h = max(im.height for _, im in thumbs) + 22
    cols = 4
    rows = (len(thumbs) + cols - 1) // cols
    sheet = Image.new("RGB", (cols * (w + 8), rows * h + (22 if skipped else 0)), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (text, im) in enumerate(thumbs):
        x, y = (i % cols) * (w + 8), (i // cols) * h
        sheet.paste(im, (x, y))
        draw.text((x + 2, y + im.height + 4), text, fill="black")
    if skipped:
        draw.text((4, rows * h + 4), "not on this machine (no cached weights): " + ", ".join(skipped), fill="black")
    sheet.save(args.out, quality=88)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
