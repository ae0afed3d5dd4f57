"""``python -m styletransfer CONTENT STYLE [STYLE ...] -o OUT.png``; bad input is one line and exit status 2."""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from typing import Callable

from . import images
from .backbones import WeightsUnavailable, load_backbone
from .engine import Controls, StyleTransfer, check_inputs
from .engine.memory import GB, peak_memory
from .config import Config
from .settings import Settings, setting_fields

EXIT_BAD_INPUT = 2


class UsageError(Exception):
    pass


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, status 2, like every other bad input
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")


def add_setting_options(parser: argparse.ArgumentParser) -> None:
    """One option per :class:`Settings` field marked for the CLI; defaults suppressed, so only the options given
    override ``--settings-from``."""
    for f in setting_fields():
        meta = f.metadata
        if not meta["cli"]:
            continue
        flag = "--" + f.name.replace("_", "-")
        default = f.default
        help_text = meta["help"] + ("" if default in (None, ()) or meta["kind"] == "bool" else f" (default: {default})")
        kind = meta["kind"]
        if kind == "bool":
            if default:
                parser.add_argument("--no-" + f.name.replace("_", "-"), dest=f.name, action="store_false",
                                    default=argparse.SUPPRESS, help=meta["off_help"] or f"off: {meta['help']}")
            else:
                parser.add_argument(flag, dest=f.name, action="store_true", default=argparse.SUPPRESS,
                                    help=meta["help"])
            continue
        kwargs = {"dest": f.name, "default": argparse.SUPPRESS, "help": help_text}
        if kind == "int":
            kwargs["type"] = int
        elif kind == "float":
            kwargs["type"] = float
        elif kind == "backbone":
            kwargs["help"] += f"; built in: {', '.join(meta['choices']())}"
            kwargs["metavar"] = "NAME|FILE"
        elif kind == "choice":
            choices = meta["choices"]() if callable(meta["choices"]) else meta["choices"]
            kwargs["choices"] = list(choices)
        elif kind == "floats":
            kwargs.update(type=float, nargs="+", metavar="W")
        elif kind == "names":
            kwargs.update(nargs="+", metavar="LAYER")
        parser.add_argument(flag, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="python -m styletransfer", description="Neural style transfer (Gatys et al.) on the pixels "
               "of an image, coarse to fine.")
    p.add_argument("content", help="the photo")
    p.add_argument("styles", nargs="+", metavar="STYLE", help="one or more paintings")
    p.add_argument("-o", "--output", required=True, help="result PNG (settings, steering and seed are embedded)")
    add_setting_options(p)
    p.add_argument("--save-every", type=int, metavar="N", help="time-lapse frame every N iterations (default 5)")
    p.add_argument("--timelapse", metavar="OUT.mp4|OUT.gif", help="write a time-lapse of the run: H.264 MP4 or GIF")
    p.add_argument("--settings-from", metavar="RESULT.png",
                   help="replay a result: every setting, the seed, the weight changes and where it stopped, as "
                        "its PNG records them; setting options given as well override them")
    p.add_argument("--json", action="store_true", help="print a JSON summary as the last stdout line")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--list-layers", action="store_true",
                   help="print the layer names of --backbone (no images needed) and exit")
    return p


def check_output_path(path: str, suffixes: str | tuple[str, ...], what: str) -> None:
    suffixes = (suffixes,) if isinstance(suffixes, str) else suffixes
    if not path.lower().endswith(suffixes):
        raise UsageError(f"{what} must be a {' or '.join(suffixes)} file: {path}")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UsageError(f"{what}: folder {folder} does not exist")
    if os.path.isdir(path):
        raise UsageError(f"{what}: {path} is a folder")
    if not os.access(folder, os.W_OK):
        raise UsageError(f"{what}: folder {folder} is not writable")


def settings_from_png(path: str) -> dict:
    try:
        values = images.read_png_settings(path)
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path}: not a result PNG of this tool ({exc.__class__.__name__})") from None
    if not values:
        raise UsageError(f"{path}: carries no settings (was it made by this tool?)")
    return values


def list_layers(argv: list[str]) -> int:
    """``--list-layers``: a backbone's layer names, its default content and style layers marked."""
    p = Parser(prog="python -m styletransfer --list-layers")
    p.add_argument("--list-layers", action="store_true")
    p.add_argument("--backbone", default=Settings().backbone)
    p.add_argument("--backbone-arch", default=None)
    args, _ = p.parse_known_args(argv)
    settings = Settings(backbone=args.backbone, backbone_arch=args.backbone_arch).validate()
    net = load_backbone(settings.backbone, "cpu", settings.backbone_arch)
    style_weights = dict(zip(net.style_layers, net.style_weights or ()))
    for name in net.layer_names:
        marks = [m for m, layers in (("content", net.content_layers), ("style", net.style_layers)) if name in layers]
        if name in style_weights:
            marks[-1] += f" ×{style_weights[name]:g}"
        print(f"{name}{'  (default ' + ', '.join(marks) + ')' if marks else ''}")
    gain = f", style weight ×{net.style_gain:g}" if net.style_gain != 1 else ""
    print(f"default style loss: {net.style_loss}{gain}")
    return 0


def run(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--list-layers" in argv:
        return list_layers(argv)
    args = build_parser().parse_args(argv)
    check_output_path(args.output, ".png", "output")
    if args.timelapse:
        check_output_path(args.timelapse, (".mp4", ".gif"), "time-lapse")
    if args.save_every is not None and not args.timelapse:
        raise UsageError("--save-every needs --timelapse OUT.mp4")
    save_every = args.save_every or 5
    if save_every < 1:
        raise UsageError("--save-every must be ≥ 1")

    given = {f.name: getattr(args, f.name) for f in setting_fields() if hasattr(args, f.name)}
    base = settings_from_png(args.settings_from) if args.settings_from else {}
    settings = Settings.from_dict({**base, **given, "frame_every": save_every if args.timelapse else 10**9})
    settings.validate(n_styles=len(args.styles))
    limits = Config.from_env().limits
    content = images.load_image(args.content, max_pixels=limits.max_input_pixels)
    styles = [images.load_image(p, max_pixels=limits.max_input_pixels) for p in args.styles]
    check_inputs(settings, content.size, [s.size for s in styles], args.content, args.styles)
    for img in (content, *styles):
        for note in images.notes_of(img):
            print(f"note: {note}", file=sys.stderr)

    transfer = StyleTransfer(settings, Controls())
    frames = []
    bar = None
    start = time.perf_counter()
    for progress in transfer.run(content, styles):
        if bar is None and not args.quiet:  # made at the first iteration, when its length is known
            from tqdm import tqdm
            bar = tqdm(total=progress.total_iterations, unit="it", file=sys.stderr, dynamic_ncols=True)
        if bar is not None:
            bar.set_postfix_str(f"scale {progress.scale}/{progress.scales} {progress.size[0]}×{progress.size[1]} "
                                f"style {progress.losses['style']:.3g} content {progress.losses['content']:.3g}",
                                refresh=False)
            bar.update(1)
        if args.timelapse and progress.image is not None:
            frames.append(progress.to_image())
    seconds = time.perf_counter() - start
    if bar is not None:
        bar.close()

    result = transfer.result
    images.save_png(result, args.output, transfer.record().to_dict())
    if args.timelapse:
        encode = images.mp4_bytes if args.timelapse.lower().endswith(".mp4") else images.gif_bytes
        images.write_atomic(args.timelapse, encode(frames, size=result.size))

    if args.json:
        per_iter = transfer.iteration_seconds[1:] or transfer.iteration_seconds
        print(json.dumps({
            "size": list(result.size),
            "iterations": len(transfer.iteration_seconds),
            "seconds": round(seconds, 3),
            "seconds_per_iteration": round(statistics.median(per_iter), 4) if per_iter else None,
            "losses": {k: transfer.losses.get(k) for k in ("content", "style", "tv", "total")},
            "device": str(transfer.device),
            "precision": transfer.precision,
            "backbone": transfer.settings.backbone,
            "scales": transfer.scales,
            "memory": {"budget_gb": round(transfer.budget.budget / GB, 3),
                       "held_gb": round(transfer.budget.held / GB, 3),
                       "peak_gb": round(peak_memory(transfer.device) / GB, 3)},
        }))
    if not args.quiet:
        what = f" and {args.timelapse}" if args.timelapse else ""
        print(f"wrote {args.output}{what}: {result.size[0]}×{result.size[1]} px in {seconds:.1f} s", file=sys.stderr)
    return 0


def one_line_errors(run_it: Callable[[], int], expected: tuple, interrupted: str, smaller: str) -> int:
    """``run_it()``'s exit status, every expected error one ``error:`` line on stderr (status 2)."""
    try:
        return run_it()
    except SystemExit as exc:  # argparse: --help, or a usage error already printed as one line
        return exc.code if isinstance(exc.code, int) else EXIT_BAD_INPUT
    except expected as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"interrupted: {interrupted}", file=sys.stderr)
        return 130
    except MemoryError:
        print(f"error: out of memory: try a smaller {smaller}", file=sys.stderr)
        return 1


def main(argv: list[str] | None = None) -> int:
    return one_line_errors(lambda: run(argv), (UsageError, images.ImageError, WeightsUnavailable, ValueError),
                           "no output written", "--size")


if __name__ == "__main__":
    sys.exit(main())
