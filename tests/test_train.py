"""The training script end to end on data drawn here: one tiny epoch, resume, clear messages, skipped files."""
import csv
import os

import pytest
import torch

from styletransfer.training import train


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo")
    train.make_demo_data(str(folder), per_class=6, val_per_class=2, size=40)
    (folder / "train" / "dots" / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    return str(folder)


def args(data, out, *extra):
    return ["--data", data, "--out", str(out), "--batch-size", "8", "--image-size", "32", "--workers", "0",
            "--quiet", *extra]


def test_one_epoch_then_resume(demo, tmp_path, capsys):
    out = tmp_path / "net.pt"
    assert train.main(args(demo, out, "--epochs", "1")) == 0
    err = capsys.readouterr().err
    assert "epoch 1: train loss" in err and "skipped 1 unreadable images" in err
    state = torch.load(out, weights_only=True)  # the safe loader takes it
    assert state["format"] == "styletransfer-net" and state["epoch"] == 1
    assert state["classes"] == list(train.DEMO_CLASSES)
    assert state["content_layers"] and state["style_layers"] and len(state["mean"]) == 3

    assert train.main(args(demo, out, "--epochs", "2", "--resume", str(out))) == 0
    state = torch.load(out, weights_only=True)
    assert state["epoch"] == 2 and [m["epoch"] for m in state["metrics"]] == [1, 2]
    with open(tmp_path / "net.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert {"train_loss", "val_top1", "val_top5", "lr", "seconds"} <= set(rows[0])
    assert os.path.getsize(tmp_path / "net.png") > 1000  # the curves


@pytest.mark.parametrize("layout,message", [
    ("no-val", "val not found: expected DIR/train/<class>/*.jpg"),
    ("empty-class", "class 'empty' in"),
    ("no-classes", "has no class folders"),
])
def test_a_bad_folder_layout_is_one_clear_line(tmp_path, demo, capsys, layout, message):
    data = tmp_path / "data"
    (data / "train" / "a").mkdir(parents=True)
    (data / "val" / "a").mkdir(parents=True)
    img = os.path.join(demo, "train", "dots", "dots-0000.png")
    for split in ("train", "val"):
        (data / split / "a" / "x.png").write_bytes(open(img, "rb").read())
    if layout == "no-val":
        for f in (data / "val" / "a").iterdir():
            f.unlink()
        (data / "val" / "a").rmdir()
        (data / "val").rmdir()
    elif layout == "empty-class":
        (data / "train" / "empty").mkdir()
    else:
        for f in (data / "train" / "a").iterdir():
            f.unlink()
        (data / "train" / "a").rmdir()
    assert train.main(args(str(data), tmp_path / "o.pt", "--epochs", "1")) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "o.pt").exists()


def test_resume_refuses_a_file_that_is_not_its_checkpoint(demo, tmp_path, capsys):
    bogus = tmp_path / "bogus.pt"
    torch.save({"fc.weight": torch.zeros(2, 2)}, bogus)
    assert train.main(args(demo, tmp_path / "o.pt", "--epochs", "1", "--resume", str(bogus))) == 2
    assert "not a checkpoint of this training script" in capsys.readouterr().err
