"""``python -m styletransfer.training.train --distill vgg19`` — a slimmer student of the embedded VGG19
(docs/history.md)."""
from __future__ import annotations

import argparse
import glob
import os
import sys
import time

import numpy as np
import torch
from PIL import Image
from torch import nn

from ..backbones import STUDENT_FORMAT, STUDENT_LAYERS, VGG19_CFG, build_student, load_backbone
from ..images import ImageError, image_to_tensor, load_image
from ..losses import GramStyleLoss
from .runs import (IMAGE_SUFFIXES, autocast_for, load_training_checkpoint, lr_lambda, restore, save_checkpoint,
                   write_csv)
from .textures import DEMO_CLASSES, draw_texture

STUDENTS = {  # name -> widths and depths per block; chosen by training/students.py's measurement
    "vgg19-quarter": [(w // 4, n) for w, n in VGG19_CFG],
    "vgg19-half": [(w // 2, n) for w, n in VGG19_CFG],
}
CALIBRATION_CROPS = 64  # the teacher's magnitudes and the student's first weights are set on these
REFITS = 2  # rounds of a rectified fit's refit (docs/history.md: what they buy, layer by layer)
PAINTED_PER_ROUND = 32  # images the student paints itself, per round of its start
HELD_OUT = ("hopper", "landscape", "swirls", "mosaic")  # examples the crops never show: the report's images
REPORT_SIZE = 256


class DistillError(ValueError):
    """A bad argument or data folder: one line for the user."""


gram = GramStyleLoss.target_of  # Gram matrices divided by the positions, as the style loss takes them


def loss_scales(teacher: dict[str, torch.Tensor]) -> dict[str, tuple[float, float]]:
    """Per layer, the teacher's mean square of features and of Gram entries on a calibration batch: the
    losses' fixed scales for the run."""
    return {n: (float(f.square().mean()), float(gram(f).square().mean())) for n, f in teacher.items()}


def distillation_loss(student: dict[str, torch.Tensor], teacher: dict[str, torch.Tensor],
                      scales: dict[str, tuple[float, float]]) -> dict[str, torch.Tensor]:
    """{"features": …, "gram": …}: each layer's squared error over its ``scales``, summed over the layers."""
    features = sum((student[n].float() - teacher[n]).square().mean() / scales[n][0] for n in teacher)
    grams = sum((gram(student[n].float()) - gram(teacher[n])).square().mean() / scales[n][1] for n in teacher)
    return {"features": features, "gram": grams}


# --------------------------------------------------------------------------------------------
# The images at hand


def images_at_hand(folder: str | None, texture_count: int = 60, seed: int = 0) -> list[Image.Image]:
    """Drawn paintings and textures, scikit-image's photos when installed, and ``folder``; the quality tool's
    pairs held out."""
    from .. import examples

    found = [draw(size=256, seed=100 + i) for i in range(4)
             for draw in (examples.swirls, examples.mosaic, examples.landscape)]
    rng = np.random.default_rng(seed)
    found += [draw_texture(DEMO_CLASSES[i % len(DEMO_CLASSES)], 160, rng) for i in range(texture_count)]
    paths = _package_photos()
    if folder:
        if not os.path.isdir(folder):
            raise DistillError(f"--data {folder}: no such folder")
        mine = [p for p in glob.glob(os.path.join(folder, "**", "*"), recursive=True)
                if p.lower().endswith(IMAGE_SUFFIXES)]
        if not mine:
            raise DistillError(f"--data {folder}: no images in it ({', '.join(IMAGE_SUFFIXES)})")
        paths += sorted(mine)
    for path in paths:
        try:
            found.append(load_image(path))
        except (ImageError, OSError):
            continue
    return found


def _package_photos() -> list[str]:
    paths = []
    try:
        import skimage.data

        folder = os.path.dirname(skimage.data.__file__)
        paths += sorted(p for p in glob.glob(os.path.join(folder, "*")) if p.lower().endswith(IMAGE_SUFFIXES))
    except ImportError:
        pass
    return paths


class Crops:
    """Batches of random-scale crops of the images, flipped and colour-jittered, as [0, 1] tensors."""

    def __init__(self, images: list[Image.Image], size: int, seed: int):
        from torchvision.transforms import v2

        self.images, self.size = images, size
        self.generator = torch.Generator().manual_seed(seed)
        self.jitter = v2.ColorJitter(0.3, 0.3, 0.3, 0.05)
        self.to_tensor = v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, scale=True)])

    def _crop(self) -> torch.Tensor:
        pick = int(torch.randint(len(self.images), (1,), generator=self.generator))
        img = self.images[pick]
        # the crop's long side covers 30–100 % of the image's short side (textures at many scales)
        short = min(img.size)
        side = max(self.size, int(short * (0.3 + 0.7 * float(torch.rand(1, generator=self.generator)))))
        side = min(side, short)
        x = int(torch.randint(img.width - side + 1, (1,), generator=self.generator))
        y = int(torch.randint(img.height - side + 1, (1,), generator=self.generator))
        tile = img.crop((x, y, x + side, y + side)).resize((self.size, self.size), Image.BICUBIC)
        tensor = self.to_tensor(tile)
        if float(torch.rand(1, generator=self.generator)) < 0.5:
            tensor = tensor.flip(-1)
        return self.jitter(tensor)

    def batch(self, count: int) -> torch.Tensor:
        return torch.stack([self._crop() for _ in range(count)])


# --------------------------------------------------------------------------------------------
# How close a student is, layer by layer


@torch.no_grad()
def layer_errors(student, teacher, batch: torch.Tensor) -> dict[str, tuple[float, float]]:
    """Per layer, the student's relative feature and Gram errors on ``batch``."""
    ours, theirs = student(batch, STUDENT_LAYERS), teacher(batch, STUDENT_LAYERS)
    out = {}
    for name in STUDENT_LAYERS:
        s, t = ours[name].float(), theirs[name].float()
        out[name] = (float((s - t).square().mean() / t.square().mean()),
                     float((gram(s) - gram(t)).norm() / gram(t).norm()))
    return out


def held_out_batch() -> torch.Tensor:
    """The held-out examples squeezed to REPORT_SIZE²."""
    from ..examples import example_image

    return torch.cat([image_to_tensor(example_image(name).convert("RGB").resize((REPORT_SIZE, REPORT_SIZE),
                                                                                  Image.BICUBIC))
                      for name in HELD_OUT])


def report(teacher_name: str, checkpoints: list[str]) -> None:
    """Prints a Markdown table of :func:`layer_errors` for each checkpoint, on :func:`held_out_batch`."""
    teacher = load_backbone(teacher_name).truncated(STUDENT_LAYERS)
    batch = held_out_batch()
    print(f"relative errors against {teacher_name}, features / Gram, on {', '.join(HELD_OUT)} at "
          f"{REPORT_SIZE}×{REPORT_SIZE} px")
    print("| student | " + " | ".join(STUDENT_LAYERS) + " |")
    print("|---" * (len(STUDENT_LAYERS) + 1) + "|")
    for path in checkpoints:
        try:
            student = load_backbone(path).truncated(STUDENT_LAYERS)
        except ValueError as exc:  # not a backbone file, or one without the teacher's layers
            raise DistillError(f"--report {path}: {exc}") from None
        errors = layer_errors(student, teacher, batch)
        print(f"| {path} | " + " | ".join(f"{f:.2f} / {g:.2f}" for f, g in errors.values()) + " |", flush=True)


# --------------------------------------------------------------------------------------------
# Training


def distill(args: argparse.Namespace) -> dict:
    from ..engine import pick_device, pick_precision

    torch.manual_seed(args.seed)
    device = pick_device(args.device)
    precision = pick_precision(device, args.precision)
    autocast = autocast_for(device, precision)
    resumed = load_training_checkpoint(args.resume, STUDENT_FORMAT, "this distillation") if args.resume else None
    student_name = resumed["student"] if resumed else args.student
    cfg = resumed["cfg"] if resumed else STUDENTS[student_name]
    full_teacher = load_backbone(args.distill, device)
    teacher = full_teacher.truncated(STUDENT_LAYERS)
    images = images_at_hand(args.data)
    crops = Crops(images, args.image_size, args.seed + (int(resumed["epoch"]) if resumed else 0))
    student = build_student(args.out, cfg).to(device)
    if resumed:
        scales = {n: tuple(v) for n, v in resumed["scales"].items()}
    else:
        scales, calibration = fit_the_start(student, student_name, cfg, full_teacher, teacher, crops, images, args,
                                            device)
    student.requires_grad_(True).train()
    optimizer = torch.optim.Adam(student.parameters(), lr=args.lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(args.epochs * args.steps, 1))  # cosine
    metrics, start_epoch = restore(resumed, student, optimizer, scheduler, args) if resumed else ([], 0)
    if resumed:  # painted again by the student as it is now: the crops keep learning where its gradients lead
        images += paint_with(student, student_name, cfg, images, PAINTED_PER_ROUND * args.paint_rounds,
                             args.image_size * 5 // 4, seed=args.seed + start_epoch + 100, device=device,
                             quiet=args.quiet)

    def save(epoch: int) -> None:
        save_checkpoint(args.out, {
            **student_checkpoint(student, student_name, cfg),
            "epoch": epoch, "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
            "metrics": metrics, "precision": precision, "scales": {n: list(v) for n, v in scales.items()},
            "args": {k: v for k, v in vars(args).items() if isinstance(v, (int, float, str, bool, type(None)))}})

    if not resumed:
        save(0)  # the fitted start: with --epochs 0 the result, else what --resume continues from
        if not args.epochs:
            print(f"the start, fitted on {len(calibration)} crops of {len(images)} images: {args.out}",
                  file=sys.stderr, flush=True)
    for epoch in range(start_epoch + 1, args.epochs + 1):
        t0 = time.perf_counter()
        sums = train_epoch(student, teacher, crops, scales, optimizer, scheduler, autocast, args, device,
                           f"epoch {epoch}/{args.epochs}")
        metrics.append({"epoch": epoch, "feature_loss": sums["features"] / args.steps,
                        "gram_loss": sums["gram"] / args.steps, "images": len(images),
                        "seconds": round(time.perf_counter() - t0, 2), "lr": optimizer.param_groups[0]["lr"]})
        save(epoch)
        write_curves(args.out, metrics)
        row = metrics[-1]
        print(f"epoch {epoch}: feature loss {row['feature_loss']:.4f} · Gram loss {row['gram_loss']:.4f} · "
              f"{row['seconds']:.1f} s on {len(images)} images", file=sys.stderr, flush=True)
    return metrics[-1] if metrics else {}


def fit_the_start(student, student_name: str, cfg, full_teacher, teacher, crops, images: list, args, device):
    """The least-squares start, refitted after each painting round; (loss scales, crops it was fitted on)."""
    calibration = crops.batch(CALIBRATION_CROPS).to(device)
    with torch.no_grad():
        scales = loss_scales(teacher(calibration, STUDENT_LAYERS))
    start_from_teacher(student, full_teacher, calibration)
    for round_ in range(1, args.paint_rounds + 1):
        painted = paint_with(student, student_name, cfg, images, PAINTED_PER_ROUND, args.image_size * 5 // 4,
                             seed=args.seed + round_, device=device, quiet=args.quiet)
        if not painted:
            break
        images += painted  # the crops of the epochs to come are drawn from these too
        painted_crops = Crops(painted, args.image_size, args.seed).batch(len(painted)).to(device)
        calibration = torch.cat([calibration, painted_crops])
        start_from_teacher(student, full_teacher, calibration)
    return scales, calibration


def train_epoch(student, teacher, crops, scales, optimizer, scheduler, autocast, args, device, desc: str) -> dict:
    """``args.steps`` gradient steps on the distillation loss; the summed feature and Gram losses."""
    from tqdm import tqdm

    sums = {"features": 0.0, "gram": 0.0}
    bar = tqdm(total=args.steps, desc=desc, unit="step", file=sys.stderr, disable=args.quiet, dynamic_ncols=True)
    for _ in range(args.steps):
        batch = crops.batch(args.batch_size).to(device)
        with torch.no_grad(), autocast():
            target = {n: f.float() for n, f in teacher(batch, STUDENT_LAYERS).items()}
        with autocast():
            losses = distillation_loss(student(batch, STUDENT_LAYERS), target, scales)
        loss = losses["features"] + args.gram_weight * losses["gram"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        for k in sums:
            sums[k] += float(losses[k].detach())
        bar.set_postfix(features=f"{sums['features'] / (bar.n + 1):.3f}", gram=f"{sums['gram'] / (bar.n + 1):.3f}",
                        refresh=False)
        bar.update(1)
    bar.close()
    return sums


def student_checkpoint(student, student_name: str, cfg) -> dict:
    """What a student's checkpoint needs to load as a backbone (``backbones.student_backbone``)."""
    return {"format": STUDENT_FORMAT, "version": 1, "teacher": "vgg19", "student": student_name,
            "cfg": [list(block) for block in cfg],
            "state_dict": {k: v.detach().cpu() for k, v in student.state_dict().items()}}


def paint_with(student, student_name: str, cfg, images: list[Image.Image], count: int, size: int, seed: int,
               device: torch.device | str = "cpu", quiet: bool = True) -> list[Image.Image]:
    """``count`` style transfers of random pairs of ``images`` through the student, at ``size`` px."""
    import tempfile

    from .. import stylize

    rng = np.random.default_rng(seed)
    usable = [img for img in images if min(img.size) >= 64]  # scikit-image has a few thumbnails
    if len(usable) < 2:
        return []
    handle, path = tempfile.mkstemp(suffix=".pt")
    os.close(handle)
    try:
        torch.save(student_checkpoint(student, student_name, cfg), path)
        painted = []
        for i in range(count):
            photo, painting = (usable[int(k)] for k in rng.choice(len(usable), 2, replace=False))
            painted.append(stylize(photo, painting, size=size, backbone=path, seed=seed * 1000 + i,
                                   device=str(device)))
            if not quiet:
                print(f"\rpainting with the student {i + 1}/{count}", end="", file=sys.stderr, flush=True)
        if not quiet:
            print(file=sys.stderr)
        return painted
    finally:
        os.remove(path)


def write_curves(out: str, metrics: list[dict]) -> tuple[str, str]:
    """``OUT.csv`` (one row per epoch) and ``OUT.png`` (the two losses, log scale) beside the checkpoint."""
    csv_path, png_path = write_csv(out, metrics)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.4))
    epochs = [m["epoch"] for m in metrics]
    ax.semilogy(epochs, [m["feature_loss"] for m in metrics], "o-", label="features (relative)")
    ax.semilogy(epochs, [m["gram_loss"] for m in metrics], "o-", label="Gram matrices (relative)")
    ax.set_xlabel("epoch"), ax.set_ylabel("loss, summed over 6 layers"), ax.legend()
    fig.tight_layout()
    fig.savefig(png_path, dpi=100)
    plt.close(fig)
    return csv_path, png_path


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The distillation's own options, on train.py's parser (which has --out, --epochs, --resume …)."""
    p.add_argument("--distill", metavar="TEACHER", choices=["vgg19"],
                   help="train a student that reproduces TEACHER's features (only vgg19, the embedded one)")
    p.add_argument("--student", choices=list(STUDENTS), default="vgg19-quarter", help="with --distill")
    p.add_argument("--steps", type=int, default=200, help="with --distill: steps per epoch")
    p.add_argument("--gram-weight", type=float, default=1.0, help="with --distill: the Gram loss's weight")
    p.add_argument("--paint-rounds", type=int, default=1,
                   help=f"with --distill: rounds of the start, each refitted on {PAINTED_PER_ROUND} more images the "
                        "student painted itself (0: photos and drawings only)")
    p.add_argument("--report", metavar="CHECKPOINT[,CHECKPOINT]",
                   help="with --distill: print each student's errors per layer on images the training never "
                        "sees, and exit")


def run(args: argparse.Namespace) -> int:
    if args.report:
        report(args.distill, [path for path in args.report.split(",") if path])
        return 0
    if not args.out or not args.out.endswith((".pt", ".pth")):
        raise DistillError("--out FILE.pt is needed")
    if args.epochs < 0 or args.paint_rounds < 0:
        raise DistillError("--epochs and --paint-rounds must be ≥ 0 (--epochs 0: the fitted start alone)")
    if args.steps < 1 or args.batch_size < 1 or args.image_size < 32:
        raise DistillError("--steps and --batch-size must be ≥ 1 and --image-size ≥ 32")
    distill(args)
    return 0


@torch.no_grad()
def start_from_teacher(student, teacher, images: torch.Tensor) -> None:
    """The student's first weights fitted to the teacher layer by layer by least squares on ``images``."""
    x_student = student.preprocess(images)
    x_teacher = teacher.preprocess(images)
    for name, layer in student.layers.items():
        x_teacher = teacher.layers[name](x_teacher)
        if isinstance(layer, nn.Conv2d):
            kept = spanning_channels(x_teacher.clamp_min(0), layer.out_channels)
            _fit_conv(layer, x_student, x_teacher[:, kept], rectified=True)
        x_student = layer(x_student)
        if name in student.adapters:
            _fit_conv(student.adapters[name], x_student, x_teacher)


def spanning_channels(features: torch.Tensor, count: int) -> torch.Tensor:
    """The ``count`` channels of ``features`` that best predict the others (greedy pivoted Cholesky), sorted."""
    flat = features.transpose(0, 1).reshape(features.shape[1], -1).double().cpu()
    moments = flat @ flat.T / flat.shape[1]
    residual = moments.diagonal().clone()
    factors = torch.zeros(count, len(moments), dtype=moments.dtype)
    picked: list[int] = []
    for j in range(count):
        i = int(torch.argmax(residual))
        picked.append(i)
        factors[j] = (moments[i] - factors[:j, i] @ factors[:j]) / residual[i].clamp_min(1e-30).sqrt()
        residual = (residual - factors[j].square()).clamp_min(0)
        residual[picked] = -1.0
    return torch.tensor(sorted(picked))


def _fit_conv(conv: nn.Conv2d, inputs: torch.Tensor, targets: torch.Tensor, rectified: bool = False,
              chunk: int = 8) -> None:
    """The convolution nearest ``targets`` on ``inputs`` by ridge regression; ``rectified``: a ReLU follows."""
    kernel, padding = conv.kernel_size, conv.padding
    patch = inputs.shape[1] * kernel[0] * kernel[1]

    def chunks():
        for i in range(0, len(inputs), chunk):
            a = nn.functional.unfold(inputs[i:i + chunk], kernel, padding=padding).transpose(1, 2)
            a = a.reshape(-1, patch).double().cpu()
            b = targets[i:i + chunk].permute(0, 2, 3, 1).reshape(-1, targets.shape[1]).double().cpu()
            yield torch.cat([a, torch.ones(len(a), 1, dtype=a.dtype)], dim=1), b

    lhs = torch.zeros(patch + 1, patch + 1, dtype=torch.float64)
    rhs = torch.zeros(patch + 1, targets.shape[1], dtype=torch.float64)
    for a, b in chunks():
        lhs += a.T @ a
        rhs += a.T @ b
    factor = _ridge_factor(lhs)
    solution = torch.cholesky_solve(rhs, factor)  # (patch + 1, outputs): the last row is the bias
    for _ in range(REFITS if rectified else 0):
        rhs.zero_()
        for a, b in chunks():
            fit = a @ solution
            rhs += a.T @ torch.where((b < 0) & (fit < 0), fit, b)
        solution = torch.cholesky_solve(rhs, factor)
    solution = solution.float().to(conv.weight.device)
    conv.weight.copy_(solution[:-1].T.reshape(targets.shape[1], inputs.shape[1], *kernel))
    conv.bias.copy_(solution[-1])


def _ridge_factor(lhs: torch.Tensor) -> torch.Tensor:
    """The Cholesky factor of AᵀA + λI, λ a hundredth of AᵀA's mean diagonal."""
    ridge = 1e-2 * lhs.diagonal().mean() * torch.eye(len(lhs), dtype=lhs.dtype)
    return torch.linalg.cholesky(lhs + ridge)
