"""training/distill.py: a student learns the embedded VGG19's features — its shapes and names, a few steps
that lower its loss, the script's checkpoint, resume and messages, and the checkpoint as a backbone."""
import csv

import pytest
import torch

from styletransfer import examples, stylize
from styletransfer.backbones import (STUDENT_LAYERS, VGG19_CFG, CheckpointError, build_student,
                                     load_checkpoint_backbone, vgg_layers)
from styletransfer.training import distill, train


def test_a_student_gives_vgg19_shaped_features_under_vgg19_s_names():
    image = torch.rand(1, 3, 48, 64)
    teacher = build_student("teacher", VGG19_CFG)
    slim = build_student("slim", distill.STUDENTS["vgg19-quarter"])
    assert list(slim.layers) == list(vgg_layers(VGG19_CFG))  # relu1_1 … relu5_4, as VGG19's
    assert not teacher.adapters and set(slim.adapters) == set(STUDENT_LAYERS)
    ours, theirs = slim(image, STUDENT_LAYERS), teacher(image, STUDENT_LAYERS)
    assert {n: f.shape for n, f in ours.items()} == {n: f.shape for n, f in theirs.items()}
    assert slim.truncated(["relu3_1"])(image, ["relu3_1"])["relu3_1"].shape == theirs["relu3_1"].shape


def test_a_student_needs_vgg19_s_loss_layers():
    with pytest.raises(ValueError, match="relu4_2"):
        build_student("short", [(16, 2), (32, 2), (64, 2), (128, 1), (128, 2)])


def test_the_student_starts_near_the_teacher_and_a_few_steps_bring_it_nearer():
    from styletransfer.backbones import load_backbone

    torch.manual_seed(0)
    vgg19 = load_backbone("vgg19")
    teacher = vgg19.truncated(STUDENT_LAYERS)
    # drawn images only: the same on every machine, whether or not scikit-image's photos are installed
    drawn = [draw(size=256, seed=100 + i) for i in range(4) for draw in (examples.swirls, examples.mosaic)]
    crops = distill.Crops(drawn, 64, seed=0)
    calibration, batch = crops.batch(8), crops.batch(2)
    with torch.no_grad():
        scales = distill.loss_scales(teacher(calibration, STUDENT_LAYERS))
        target = teacher(batch, STUDENT_LAYERS)

    def loss_of(student):
        parts = distill.distillation_loss(student(batch, STUDENT_LAYERS), target, scales)
        return parts["features"] + parts["gram"]

    random_start = build_student("slim", distill.STUDENTS["vgg19-quarter"])
    student = build_student("slim", distill.STUDENTS["vgg19-quarter"])
    distill.start_from_teacher(student, vgg19, calibration)
    with torch.no_grad():
        assert float(loss_of(student)) < 0.8 * float(loss_of(random_start))
    student.requires_grad_(True).train()
    optimizer = torch.optim.Adam(student.parameters(), lr=3e-5)
    losses = []
    for _ in range(6):
        loss = loss_of(student)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < losses[0]


def test_a_fit_a_relu_follows_spends_nothing_on_values_the_relu_discards():
    torch.manual_seed(0)
    x = torch.randn(16, 4, 6, 6)
    true = torch.nn.Conv2d(4, 3, 1)
    with torch.no_grad():
        z = true(x)
    targets = torch.where(z > 0, z, -3 * z.square())  # below zero, anything: no linear map gives it
    errors = {}
    for rectified in (False, True):
        conv = torch.nn.Conv2d(4, 3, 1)
        with torch.no_grad():
            distill._fit_conv(conv, x, targets, rectified=rectified)
            errors[rectified] = float((conv(x).relu() - targets.relu()).square().mean())
    assert errors[True] < 0.5 * errors[False]


def test_the_report_gives_a_fitted_student_smaller_errors_than_a_random_one_at_every_layer():
    from styletransfer.backbones import load_backbone

    torch.manual_seed(0)
    vgg19 = load_backbone("vgg19")
    drawn = [draw(size=256, seed=100 + i) for i in range(2) for draw in (examples.swirls, examples.mosaic)]
    random_start = build_student("slim", distill.STUDENTS["vgg19-quarter"])
    fitted = build_student("slim", distill.STUDENTS["vgg19-quarter"])
    distill.start_from_teacher(fitted, vgg19, distill.Crops(drawn, 64, seed=0).batch(8))
    batch = distill.held_out_batch()[:, :, :96, :96]
    teacher = vgg19.truncated(STUDENT_LAYERS)
    ours, theirs = distill.layer_errors(fitted, teacher, batch), distill.layer_errors(random_start, teacher, batch)
    assert list(ours) == list(STUDENT_LAYERS)
    assert all(ours[n][0] < theirs[n][0] and ours[n][1] < theirs[n][1] for n in STUDENT_LAYERS)


def test_the_start_keeps_the_channels_that_span_the_others():
    a, b = torch.rand(2, 1, 6, 6), torch.rand(2, 1, 6, 6)
    features = torch.cat([a, 1.01 * a, b, 0.5 * a + 0.5 * b], dim=1)  # 1 and 3 add nothing once 0 and 2 are in
    assert distill.spanning_channels(features, 2).tolist() in ([0, 2], [1, 2])


def test_the_images_at_hand_are_many_kinds_and_a_folder_adds_to_them(tmp_path):
    from PIL import Image

    base = distill.images_at_hand(None, texture_count=6)
    assert len(base) >= 10 and all(img.mode == "RGB" for img in base)
    (tmp_path / "a").mkdir()
    Image.new("RGB", (90, 70), (1, 2, 3)).save(tmp_path / "a" / "mine.png")
    (tmp_path / "a" / "broken.jpg").write_bytes(b"\xff\xd8 not really")
    assert len(distill.images_at_hand(str(tmp_path), texture_count=6)) == len(base) + 1  # the broken one skipped
    (tmp_path / "empty").mkdir()
    with pytest.raises(distill.DistillError, match="no images in it"):
        distill.images_at_hand(str(tmp_path / "empty"), texture_count=6)


def args(out, *extra):
    return ["--distill", "vgg19", "--out", str(out), "--steps", "2", "--batch-size", "2", "--image-size", "64",
            "--quiet", *extra]


def test_the_script_trains_checkpoints_resumes_and_its_checkpoint_paints(tmp_path, capsys, content_image,
                                                                         style_image, monkeypatch):
    monkeypatch.setattr(distill, "PAINTED_PER_ROUND", 2)
    out = tmp_path / "slim.pt"
    assert train.main(args(out, "--epochs", "1")) == 0
    assert "epoch 1: feature loss" in capsys.readouterr().err
    state = torch.load(out, weights_only=True)
    assert state["format"] == "styletransfer-student" and state["teacher"] == "vgg19" and state["epoch"] == 1
    assert train.main(args(out, "--epochs", "2", "--resume", str(out))) == 0
    with open(tmp_path / "slim.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["epoch"] for r in rows] == ["1", "2"] and {"feature_loss", "gram_loss", "seconds"} <= set(rows[0])
    assert (tmp_path / "slim.png").stat().st_size > 0

    backbone = load_checkpoint_backbone(str(out))
    assert backbone.content_layers == ("relu4_2",) and "relu5_1" in backbone.style_layers
    result = stylize(content_image, style_image, size=64, iterations=3, multiscale=False, backbone=str(out))
    assert max(result.size) == 64


def test_epochs_0_is_the_start_alone_fitted_also_on_what_the_student_painted(tmp_path, capsys, monkeypatch):
    painted = []
    real_paint = distill.paint_with
    monkeypatch.setattr(distill, "paint_with", lambda *a, **k: painted.extend(real_paint(*a, **k)) or painted[-2:])
    monkeypatch.setattr(distill, "PAINTED_PER_ROUND", 2)
    out = tmp_path / "start.pt"
    assert train.main(args(out, "--epochs", "0", "--paint-rounds", "2")) == 0
    assert "the start, fitted on" in capsys.readouterr().err
    assert len(painted) == 4 and all(max(img.size) == 80 for img in painted)  # 2 rounds of 2, at 1.25 × 64 px
    state = torch.load(out, weights_only=True)
    assert state["epoch"] == 0 and state["metrics"] == []
    assert load_checkpoint_backbone(str(out)).adapters  # it is a backbone already
    assert train.main(["--distill", "vgg19", "--report", str(out)]) == 0  # how close it is, layer by layer
    table = capsys.readouterr().out.splitlines()
    assert table[1] == "| student | " + " | ".join(STUDENT_LAYERS) + " |"
    assert table[3].startswith(f"| {out} | ") and table[3].count(" / ") == len(STUDENT_LAYERS)
    assert train.main(args(out, "--epochs", "1", "--resume", str(out))) == 0  # and training goes on from it
    assert torch.load(out, weights_only=True)["epoch"] == 1


@pytest.mark.parametrize("extra,message", [
    (["--epochs", "-1"], "must be ≥ 0"),
    (["--epochs", "1", "--steps", "0"], "must be ≥ 1"),
    (["--epochs", "1", "--data", "/no/such/folder"], "no such folder"),
    (["--report", "/no/such/student.pt"], "--report /no/such/student.pt: "),
])
def test_bad_arguments_are_one_line_and_exit_2(tmp_path, capsys, extra, message):
    assert train.main(args(tmp_path / "o.pt", *extra)) == 2
    assert message in capsys.readouterr().err


def test_a_damaged_student_checkpoint_is_one_line(tmp_path):
    bad = tmp_path / "bad.pt"
    torch.save({"format": "styletransfer-student", "cfg": [[16, 2]] * 5, "state_dict": {}}, bad)
    with pytest.raises(CheckpointError, match="a damaged checkpoint of the distillation"):
        load_checkpoint_backbone(str(bad))
