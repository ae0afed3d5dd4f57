"""``python -m styletransfer CONTENT STYLE [STYLE ...] -o OUT.png`` — stylise from the command line.

Bad input of any kind prints one line on stderr and exits with status 2; no output file is left behind.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

from . import images
from .backbones import BACKBONES, WeightsUnavailable
from .engine import Controls, Settings, StyleTransfer

EXIT_BAD_INPUT = 2


class UsageError(Exception):
    pass


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, status 2, like every other bad input
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    defaults = Settings()
    p = Parser(prog="python -m styletransfer", description="Neural style transfer (Gatys et al.) on the pixels "
               "of an image, coarse to fine.", formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("content", help="the photo")
    p.add_argument("styles", nargs="+", metavar="STYLE", help="one or more paintings")
    p.add_argument("-o", "--output", required=True, help="result PNG (settings are embedded)")
    p.add_argument("--size", type=int, default=defaults.size, help="long side of the result, px")
    p.add_argument("--iterations", type=int, default=None,
                   help="iterations at the final scale (each coarser scale runs twice as many); "
                        "default: 35 on CPU, 300 on GPU")
    p.add_argument("--optimizer", choices=["lbfgs", "adam"], default=defaults.optimizer)
    p.add_argument("--content-weight", type=float, default=defaults.content_weight)
    p.add_argument("--style-weight", type=float, default=defaults.style_weight)
    p.add_argument("--tv-weight", type=float, default=defaults.tv_weight)
    p.add_argument("--style-blend", type=float, nargs="+", metavar="W", help="one blend weight per style image")
    p.add_argument("--style-scale", type=float, default=defaults.style_scale,
                   help="size of the painting's strokes relative to the result")
    p.add_argument("--style-loss", choices=["gram", "w2"], default=defaults.style_loss)
    p.add_argument("--backbone", choices=list(BACKBONES), default=defaults.backbone)
    p.add_argument("--init", choices=["content", "noise", "style"], default=defaults.init)
    p.add_argument("--no-multiscale", action="store_true", help="optimise at the final size only")
    p.add_argument("--preserve-color", action="store_true", help="keep the photo's colours")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="auto")
    p.add_argument("--save-every", type=int, metavar="N", help="time-lapse frame every N iterations (default 5)")
    p.add_argument("--timelapse", metavar="OUT.gif", help="write an animated GIF of the run")
    p.add_argument("--settings-from", metavar="RESULT.png",
                   help="reuse every setting (and the seed) embedded in a result PNG; other setting options "
                        "are then ignored")
    p.add_argument("--json", action="store_true", help="print a JSON summary as the last stdout line")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def check_output_path(path: str, suffix: str, what: str) -> None:
    if not path.lower().endswith(suffix):
        raise UsageError(f"{what} must be a {suffix} file: {path}")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UsageError(f"{what}: folder {folder} does not exist")
    if os.path.isdir(path):
        raise UsageError(f"{what}: {path} is a folder")
    if not os.access(folder, os.W_OK):
        raise UsageError(f"{what}: folder {folder} is not writable")


def settings_from_png(path: str) -> Settings:
    try:
        values = images.read_png_settings(path)
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path}: not a result PNG of this tool ({exc.__class__.__name__})") from None
    if not values:
        raise UsageError(f"{path}: carries no settings (was it made by this tool?)")
    return Settings.from_dict(values)


def run(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    check_output_path(args.output, ".png", "output")
    if args.timelapse:
        check_output_path(args.timelapse, ".gif", "time-lapse")
    if args.save_every is not None and not args.timelapse:
        raise UsageError("--save-every needs --timelapse OUT.gif")
    save_every = args.save_every or 5
    if save_every < 1:
        raise UsageError("--save-every must be ≥ 1")

    if args.settings_from:
        settings = settings_from_png(args.settings_from)
        settings.frame_every = save_every if args.timelapse else 10**9
    else:
        settings = Settings(
            size=args.size, iterations=args.iterations, optimizer=args.optimizer,
            content_weight=args.content_weight, style_weight=args.style_weight, tv_weight=args.tv_weight,
            style_blend=tuple(args.style_blend) if args.style_blend else None, style_scale=args.style_scale,
            style_loss=args.style_loss, backbone=args.backbone, init=args.init, multiscale=not args.no_multiscale,
            preserve_color=args.preserve_color, seed=args.seed, device=args.device, precision=args.precision,
            frame_every=save_every if args.timelapse else 10**9,
        )
    settings.validate(n_styles=len(args.styles))
    content = images.load_image(args.content)
    styles = [images.load_image(p) for p in args.styles]

    transfer = StyleTransfer(settings, Controls())
    frames = []
    bar = None
    if not args.quiet:
        from tqdm import tqdm
        bar = tqdm(total=None, unit="it", file=sys.stderr, dynamic_ncols=True)
    start = time.perf_counter()
    for progress in transfer.run(content, styles):
        if bar is not None:
            bar.total = progress.total_iterations
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
    images.save_png(result, args.output, transfer.settings.to_dict())
    if args.timelapse:
        data = images.gif_bytes(frames, size=result.size)
        tmp = args.timelapse + ".partial"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, args.timelapse)

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
        }))
    return 0


def main(argv: list[str] | None = None) -> int:
    try:
        return run(argv)
    except SystemExit as exc:  # argparse: --help, or a usage error already printed as one line
        return exc.code if isinstance(exc.code, int) else EXIT_BAD_INPUT
    except (UsageError, images.ImageError, WeightsUnavailable, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted: no output written", file=sys.stderr)
        return 130
    except MemoryError:
        print("error: out of memory: try a smaller --size", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
