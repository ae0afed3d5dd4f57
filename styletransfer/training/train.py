"""``python -m styletransfer.training.train`` — train our own network on an ImageNet-layout folder."""
from __future__ import annotations

import argparse
import os
import sys
import time

import torch
from PIL import Image
from torch import nn

from .. import nets
from . import distill
from .runs import (IMAGE_SUFFIXES, DataError, autocast_for, load_training_checkpoint, lr_lambda, restore,
                   save_checkpoint, write_csv)
from .textures import DEMO_CLASSES, make_demo_data

CHECKPOINT_FORMAT = "styletransfer-net"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
EXIT_BAD_INPUT = 2


# --------------------------------------------------------------------------------------------
# Data


def find_classes(folder: str) -> list[tuple[str, list[str]]]:
    """[(class name, [image paths])] of an ImageFolder split, checked: no split, no class or an empty
    class is a :class:`DataError`."""
    if not os.path.isdir(folder):
        raise DataError(f"{folder} not found: expected DIR/train/<class>/*.jpg and DIR/val/<class>/*.jpg "
                        "(ImageNet's layout)")
    classes = sorted(d for d in os.listdir(folder) if os.path.isdir(os.path.join(folder, d)))
    if not classes:
        raise DataError(f"{folder} has no class folders: expected {folder}/<class>/*.jpg")
    out = []
    for name in classes:
        root = os.path.join(folder, name)
        files = sorted(os.path.join(dirpath, f) for dirpath, _, names in os.walk(root) for f in names
                       if f.lower().endswith(IMAGE_SUFFIXES))
        if not files:
            raise DataError(f"class {name!r} in {folder} has no images ({', '.join(IMAGE_SUFFIXES)})")
        out.append((name, files))
    return out


class ImageFolderSplit(torch.utils.data.Dataset):
    """One split of an ImageFolder tree; an unreadable image yields ``None`` (dropped and counted)."""

    def __init__(self, folder: str, classes: list[str], transform):
        found = dict(find_classes(folder))
        missing = [c for c in classes if c not in found]
        if missing:
            raise DataError(f"{folder} lacks the class folders {', '.join(missing)} that train/ has")
        extra = [c for c in found if c not in classes]
        if extra:
            raise DataError(f"{folder} has class folders train/ lacks: {', '.join(extra)}")
        self.samples = [(path, i) for i, c in enumerate(classes) for path in found[c]]
        self.transform = transform

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, index):
        path, label = self.samples[index]
        try:
            with Image.open(path) as img:
                img = img.convert("RGB")
        except Exception:  # unreadable, truncated, not an image: skipped and counted
            return None
        return self.transform(img), label


def collate(batch):
    """Stack the readable samples; the third element counts the unreadable ones."""
    good = [b for b in batch if b is not None]
    skipped = len(batch) - len(good)
    if not good:
        return None, None, skipped
    images, labels = zip(*good)
    return torch.stack(images), torch.tensor(labels), skipped


def transforms(image_size: int, train: bool):
    from torchvision.transforms import v2

    if train:
        steps = [v2.RandomResizedCrop(image_size, scale=(0.35, 1.0), antialias=True), v2.RandomHorizontalFlip(),
                 v2.ColorJitter(0.2, 0.2, 0.2)]
    else:
        steps = [v2.Resize(round(image_size * 1.14), antialias=True), v2.CenterCrop(image_size)]
    return v2.Compose([v2.ToImage(), *steps, v2.ToDtype(torch.float32, scale=True),
                       v2.Normalize(IMAGENET_MEAN, IMAGENET_STD)])


# --------------------------------------------------------------------------------------------
# Checkpoints


def checkpoint_state(model: nets.ResNeXt, arch: str, classes: list[str], image_size: int, epoch: int,
                     optimizer, scheduler, metrics: list[dict], args: argparse.Namespace) -> dict:
    return {
        "format": CHECKPOINT_FORMAT, "version": 1, "arch": arch, "config": model.config.to_dict(),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "classes": list(classes), "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD),
        "image_size": image_size, "content_layers": list(nets.DEFAULT_CONTENT_LAYERS),
        "style_layers": list(nets.DEFAULT_STYLE_LAYERS), "epoch": epoch,
        "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "metrics": metrics,
        "args": {k: v for k, v in vars(args).items() if isinstance(v, (int, float, str, bool, type(None)))},
    }


# --------------------------------------------------------------------------------------------
# Training


def topk_correct(logits: torch.Tensor, labels: torch.Tensor, ks=(1, 5)) -> list[int]:
    top = logits.topk(min(max(ks), logits.shape[1]), dim=1).indices
    hits = top == labels[:, None]
    return [int(hits[:, :k].any(1).sum()) for k in ks]


class Batches:
    """A loader's batches on ``device``; ``skipped`` counts the unreadable images dropped."""

    def __init__(self, loader, device: torch.device):
        self.loader, self.device, self.skipped = loader, device, 0

    def __iter__(self):
        for images, labels, bad in self.loader:
            self.skipped += bad
            if images is None:
                continue
            images = images.to(self.device, non_blocking=True)
            if self.device.type == "cuda":
                images = images.contiguous(memory_format=torch.channels_last)
            yield images, labels.to(self.device, non_blocking=True)


def evaluate(model, loader, device, autocast) -> dict:
    model.eval()
    loss_sum, n, top1, top5 = 0.0, 0, 0, 0
    criterion = nn.CrossEntropyLoss(reduction="sum")
    batches = Batches(loader, device)
    with torch.no_grad():
        for images, labels in batches:
            with autocast():
                logits = model(images)
            loss_sum += float(criterion(logits.float(), labels))
            c1, c5 = topk_correct(logits, labels)
            top1, top5, n = top1 + c1, top5 + c5, n + len(labels)
    return {"val_loss": loss_sum / max(n, 1), "val_top1": top1 / max(n, 1), "val_top5": top5 / max(n, 1),
            "val_skipped": batches.skipped}


def write_metrics(out: str, metrics: list[dict]) -> tuple[str, str]:
    """``OUT.csv`` (one row per epoch) and ``OUT.png`` (loss and accuracy curves) beside the checkpoint."""
    csv_path, png_path = write_csv(out, metrics)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [m["epoch"] for m in metrics]
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.4))
    a.plot(epochs, [m["train_loss"] for m in metrics], "o-", label="train")
    a.plot(epochs, [m["val_loss"] for m in metrics], "o-", label="val")
    a.set_xlabel("epoch"), a.set_ylabel("loss"), a.legend()
    b.plot(epochs, [m["train_top1"] for m in metrics], "o-", label="train top-1")
    b.plot(epochs, [m["val_top1"] for m in metrics], "o-", label="val top-1")
    b.plot(epochs, [m["val_top5"] for m in metrics], "o--", label="val top-5")
    b.set_xlabel("epoch"), b.set_ylabel("accuracy"), b.set_ylim(0, 1), b.legend()
    fig.tight_layout()
    fig.savefig(png_path, dpi=100)
    plt.close(fig)
    return csv_path, png_path


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m styletransfer.training.train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--make-demo-data", metavar="DIR", help="write a small drawn data set to DIR and exit")
    p.add_argument("--data", metavar="DIR", help="DIR/train/<class>/… and DIR/val/<class>/…")
    p.add_argument("--out", metavar="FILE.pt", help="checkpoint (written every epoch); FILE.csv and FILE.png beside it")
    p.add_argument("--arch", choices=list(nets.PRESETS), default="resnext-tiny")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=None, help="default 32 (8 with --distill)")
    p.add_argument("--image-size", type=int, default=None,
                   help="training crop, px: default 64 (224 for ImageNet; 128 with --distill)")
    p.add_argument("--optimizer", choices=["adamw", "sgd"], default="adamw")
    p.add_argument("--lr", type=float, default=None, help="base rate (default 2e-3 AdamW, 0.1 SGD; 5e-5 Adam with "
                   "--distill, whose student starts from the teacher's weights)")
    p.add_argument("--weight-decay", type=float, default=0.05)
    p.add_argument("--warmup-epochs", type=float, default=1.0)
    p.add_argument("--label-smoothing", type=float, default=0.1)
    p.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1))
    p.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="auto")
    p.add_argument("--device", default="auto")
    p.add_argument("--resume", metavar="FILE.pt", help="continue from a checkpoint this script wrote")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    distill.add_arguments(p)
    return p


def train(args: argparse.Namespace) -> dict:
    from tqdm import tqdm

    from ..engine import pick_device, pick_precision

    torch.manual_seed(args.seed)  # a training script is its own process: the global generator is its own
    device = pick_device(args.device)
    precision = pick_precision(device, args.precision)
    autocast = autocast_for(device, precision)
    train_classes = find_classes(os.path.join(args.data, "train"))
    classes = [name for name, _ in train_classes]
    train_set = ImageFolderSplit(os.path.join(args.data, "train"), classes, transforms(args.image_size, True))
    val_set = ImageFolderSplit(os.path.join(args.data, "val"), classes, transforms(args.image_size, False))
    loader_args = dict(batch_size=args.batch_size, num_workers=args.workers, collate_fn=collate,
                       persistent_workers=args.workers > 0, pin_memory=device.type == "cuda")
    train_loader = torch.utils.data.DataLoader(train_set, shuffle=True, drop_last=len(train_set) > args.batch_size,
                                               **loader_args)
    val_loader = torch.utils.data.DataLoader(val_set, shuffle=False, **loader_args)

    resumed = load_training_checkpoint(args.resume, CHECKPOINT_FORMAT, "this training script") if args.resume else None
    arch = resumed["arch"] if resumed else args.arch
    config = nets.NetConfig.from_dict(resumed["config"]) if resumed else nets.PRESETS[arch]
    if resumed and resumed["classes"] != classes:
        raise DataError(f"{args.resume} was trained on classes {resumed['classes']}, not the {classes} in {args.data}")
    model = nets.build_net(config, num_classes=len(classes)).to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    lr = args.lr if args.lr is not None else (2e-3 if args.optimizer == "adamw" else 0.1)
    decay = [p for n, p in model.named_parameters() if p.ndim > 1]
    no_decay = [p for n, p in model.named_parameters() if p.ndim <= 1]  # no weight decay on BN and biases
    groups = [{"params": decay, "weight_decay": args.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    optimizer = (torch.optim.AdamW(groups, lr=lr) if args.optimizer == "adamw"
                 else torch.optim.SGD(groups, lr=lr, momentum=0.9, nesterov=True))
    steps_per_epoch = max(1, len(train_loader))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lr_lambda(args.epochs * steps_per_epoch, max(1, round(args.warmup_epochs * steps_per_epoch))))
    metrics, start_epoch = restore(resumed, model, optimizer, scheduler, args) if resumed else ([], 0)
    criterion = nn.CrossEntropyLoss(label_smoothing=args.label_smoothing)

    for epoch in range(start_epoch + 1, args.epochs + 1):
        model.train()
        t0 = time.perf_counter()
        loss_sum, seen, correct = 0.0, 0, 0
        bar = tqdm(total=len(train_loader), desc=f"epoch {epoch}/{args.epochs}", unit="batch", file=sys.stderr,
                   disable=args.quiet, dynamic_ncols=True)
        batches = Batches(train_loader, device)
        for images, labels in batches:
            with autocast():
                logits = model(images)
            loss = criterion(logits.float(), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            loss_sum += float(loss.detach()) * len(labels)
            seen += len(labels)
            correct += int((logits.argmax(1) == labels).sum())
            bar.set_postfix(loss=f"{loss_sum / seen:.3f}", acc=f"{correct / seen:.3f}", refresh=False)
            bar.update(1)
        bar.close()
        row = {"epoch": epoch, "train_loss": loss_sum / max(seen, 1), "train_top1": correct / max(seen, 1),
               **evaluate(model, val_loader, device, autocast), "train_skipped": batches.skipped,
               "seconds": round(time.perf_counter() - t0, 2), "lr": optimizer.param_groups[0]["lr"]}
        metrics.append(row)
        save_checkpoint(args.out, checkpoint_state(model, arch, classes, args.image_size, epoch, optimizer,
                                                   scheduler, metrics, args))
        write_metrics(args.out, metrics)
        skipped = row["train_skipped"] + row["val_skipped"]
        note = f", skipped {skipped} unreadable images" if skipped else ""
        print(f"epoch {epoch}: train loss {row['train_loss']:.3f} top-1 {row['train_top1']:.3f} · val loss "
              f"{row['val_loss']:.3f} top-1 {row['val_top1']:.3f} top-5 {row['val_top5']:.3f} · "
              f"{row['seconds']:.1f} s{note}", file=sys.stderr, flush=True)
    return metrics[-1]


def main(argv: list[str] | None = None) -> int:
    from ..backbones import CheckpointError
    from ..cli import one_line_errors

    args = build_parser().parse_args(argv)
    return one_line_errors(lambda: run(args), (DataError, distill.DistillError, CheckpointError),
                           "the last finished epoch's checkpoint is kept", "--batch-size")


def run(args) -> int:
    if args.distill:
        args.batch_size, args.image_size = args.batch_size or 8, args.image_size or 128
        args.lr = args.lr or 5e-5
        return distill.run(args)
    args.batch_size, args.image_size = args.batch_size or 32, args.image_size or 64
    if args.make_demo_data:
        make_demo_data(args.make_demo_data)
        print(f"wrote {len(DEMO_CLASSES)} classes of drawn textures to {args.make_demo_data}/train and "
              f"{args.make_demo_data}/val", file=sys.stderr)
        return 0
    if not args.data or not args.out:
        raise DataError("--data DIR and --out FILE.pt are needed (or --make-demo-data DIR)")
    if not args.out.endswith((".pt", ".pth")):
        raise DataError(f"--out must be a .pt file: {args.out}")
    if args.epochs < 1 or args.batch_size < 1 or args.image_size < 32:
        raise DataError("--epochs and --batch-size must be ≥ 1 and --image-size ≥ 32")
    train(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
