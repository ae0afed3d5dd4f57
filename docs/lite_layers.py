"""The EfficientNet-Lite layer choices measured on the time-to-quality yardstick (VGG19's distances).

``PYTHONPATH=. python docs/lite_layers.py ["NAME;NAME…"]`` — each variant is the default plan at 512 px on the
quality tool's three pairs with some settings changed (one process; seconds exclude the yardstick's
measurements); it prints a row per pair and a table of the means. Explicit layers and weights are written
out, so a variant means the same whatever the backbone's defaults are now.
"""
import dataclasses
import statistics
import sys

from styletransfer.engine import Settings
from styletransfer.engine.hardware import describe_machine
from styletransfer.examples import example_image
from styletransfer.tools.quality import PAIRS, Yardstick, photo, time_to_quality

FIRST = {"content_layers": ("block7",), "style_layers": ("stem", "block0", "block2", "block4", "block7"),
         "style_layer_weights": (1, 1, 1, 1, 1), "style_loss": "gram"}
LITE1 = {"backbone": "efficientnet-lite1", "style_layers": ("stem", "block0", "block3", "block6", "block9"),
         "style_loss": "gram"}
VARIANTS = {
    "vgg19": {"backbone": "vgg19"},
    "lite0 first": FIRST,
    "lite0 content block4": {**FIRST, "content_layers": ("block4",)},
    "lite0 deeper weights": {**FIRST, "style_layer_weights": (1, 1, 1, 2, 4)},
    "lite0 style 20": {**FIRST, "content_layers": ("block4",), "style_weight": 20.0},
    "lite0 +block5": {**FIRST, "content_layers": ("block4",),
                      "style_layers": ("stem", "block0", "block2", "block4", "block5", "block7"),
                      "style_layer_weights": (1, 1, 1, 1, 1, 1)},
    "lite0 weights 2,2,1,1,.5": {**FIRST, "content_layers": ("block4",), "style_layer_weights": (2, 2, 1, 1, 0.5)},
    "lite0 weights 3,3,1,1,.25": {**FIRST, "content_layers": ("block4",), "style_layer_weights": (3, 3, 1, 1, 0.25)},
    "lite0 weights 4,4,2,1,.5": {**FIRST, "content_layers": ("block4",), "style_layer_weights": (4, 4, 2, 1, 0.5)},
    "lite0 tuned": {**FIRST, "content_layers": ("block4",), "style_layer_weights": (3, 3, 1, 1, 0.25),
                    "style_loss": "gram"},
    "lite0 w2": {**FIRST, "content_layers": ("block4",), "style_layer_weights": (3, 3, 1, 1, 0.25), "style_loss": "w2"},
    "lite0 w2 style 30": {**FIRST, "content_layers": ("block4",), "style_layer_weights": (3, 3, 1, 1, 0.25),
                          "style_loss": "w2", "style_weight": 30.0},
    "lite0 100 it": {**FIRST, "content_layers": ("block4",), "style_layer_weights": (3, 3, 1, 1, 0.25),
                     "iterations": 100},
    "lite0 own (w2 x3)": {"backbone": "efficientnet-lite0"},   # everything the backbone's own
    "lite1 own (w2 x3)": {"backbone": "efficientnet-lite1"},
    "lite1 first": {**LITE1, "content_layers": ("block9",), "style_layer_weights": (1, 1, 1, 1, 1)},
    "lite1 weights 2,2,1,1,.5": {**LITE1, "content_layers": ("block6",), "style_layer_weights": (2, 2, 1, 1, 0.5)},
}


def main() -> None:
    names = sys.argv[1].split(";") if len(sys.argv) > 1 else list(VARIANTS)
    base = Settings(size=512, seed=0, device="cpu", backbone="efficientnet-lite0")
    print(f"machine: {describe_machine()}; 512 px, the default plan")
    finals = {name: [] for name in names}
    for pair, (photo_name, painting_name) in PAIRS.items():
        content, style = photo(photo_name), example_image(painting_name)
        yardstick = Yardstick(content, style, base)
        for name in names:
            rows, _ = time_to_quality(dataclasses.replace(base, **VARIANTS[name]), None, content, style, yardstick,
                                      every=10**9)
            finals[name].append(rows[-1])
            print(f"  {pair:<18} {name:<28} {rows[-1][0]:6.1f} s  content {rows[-1][2]:.3f}  style {rows[-1][3]:.3f}",
                  flush=True)
    print("\n| variant | seconds | content | style |\n|---|---|---|---|")
    for name in names:
        mean = [statistics.mean(row[k] for row in finals[name]) for k in (0, 2, 3)]
        print(f"| {name} | {mean[0]:.1f} | {mean[1]:.3f} | {mean[2]:.3f} |")


if __name__ == "__main__":
    main()
