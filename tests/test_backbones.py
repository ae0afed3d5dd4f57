"""Backbones: the embedded Caffe VGG19, torchvision architectures by structure, the real loading path."""
import os
import urllib.error

import pytest
import torch

from styletransfer import backbones
from styletransfer.backbones import BACKBONES, WeightsUnavailable, checkpoint_path, load_backbone


def test_embedded_vgg19_is_the_caffe_network_and_loads_offline():
    net = load_backbone("vgg19")
    assert net.layer_names[:5] == ("conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1")
    assert len([n for n in net.layer_names if n.startswith("conv")]) == 16
    assert net.content_layers == ("relu4_2",)
    assert net.style_layers == ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
    # dequantised weights: at most 256 distinct values per layer, and not an initialiser's output
    w = net.layers["conv3_1"].weight
    assert w.shape == (256, 128, 3, 3)
    assert torch.unique(w).numel() <= 256
    assert all(not p.requires_grad for p in net.parameters())
    assert not net.training


def test_embedded_vgg19_first_layer_holds_trained_smooth_filters():
    """Trained conv1_1 kernels are smooth edge/colour detectors; a random initialiser's are not."""
    def neighbour_correlation(w):
        return torch.corrcoef(torch.stack([w[..., :-1].flatten(), w[..., 1:].flatten()]))[0, 1].item()

    trained = load_backbone("vgg19").layers["conv1_1"].weight
    untrained = BACKBONES["vgg19"].build(False).layers["conv1_1"].weight
    assert neighbour_correlation(trained) > 0.4
    assert abs(neighbour_correlation(untrained)) < 0.2


def test_backbones_are_loaded_once_and_shared():
    assert load_backbone("vgg19") is load_backbone("vgg19")


def test_damaged_weights_file_is_refused(tmp_path, monkeypatch):
    bad = tmp_path / "w.bin"
    bad.write_bytes(b"not the weights")
    with pytest.raises(WeightsUnavailable, match="damaged"):
        backbones.load_caffe_vgg19_state(str(bad))


def test_truncated_shares_parameters_and_stops_at_the_deepest_layer():
    net = load_backbone("vgg19")
    cut = net.truncated(["relu1_1", "relu3_1"])
    assert cut.layer_names[-1] == "relu3_1"
    assert cut.layers["conv1_1"].weight.data_ptr() == net.layers["conv1_1"].weight.data_ptr()
    with pytest.raises(ValueError, match="no layer 'relu9_9'"):
        net.truncated(["relu9_9"])


@pytest.mark.parametrize("name", [n for n in BACKBONES if n != "vgg19"])
def test_torchvision_backbones_by_structure(name):
    net = BACKBONES[name].build(False)  # random weights: structure only
    layers = list(net.content_layers) + list(net.style_layers)
    net.check_layers(layers)
    x = torch.rand(1, 3, 96, 96, requires_grad=True)
    out = net.truncated(layers)(x, layers)
    assert set(out) == set(layers)
    sum(o.sum() for o in out.values()).backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_real_torchvision_loading_path_reads_the_cached_checkpoint(tmp_path, monkeypatch):
    import torchvision.models as tvm

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(backbones, "_cache", {})
    reference = tvm.googlenet(weights=None, aux_logits=False, init_weights=True)
    path = checkpoint_path(tvm.GoogLeNet_Weights.IMAGENET1K_V1.url)
    assert path.startswith(str(tmp_path))
    os.makedirs(os.path.dirname(path))
    torch.save(reference.state_dict(), path)

    net = load_backbone("googlenet")
    assert torch.equal(net.layers["conv1"].conv.weight, reference.conv1.conv.weight)
    assert torch.equal(net.layers["inception4c"].branch1.conv.weight, reference.inception4c.branch1.conv.weight)


def test_offline_without_cached_weights_names_the_file_and_the_folder(tmp_path, monkeypatch):
    import torchvision.models as tvm

    def offline(*args, **kwargs):
        raise urllib.error.URLError("Temporary failure in name resolution")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(backbones, "_cache", {})
    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(WeightsUnavailable) as err:
        load_backbone("vgg16")
    message = str(err.value)
    assert os.path.basename(tvm.VGG16_Weights.IMAGENET1K_V1.url) in message
    assert os.path.join(str(tmp_path), "hub", "checkpoints") in message
    # what a web user is told: where the weights come from, none of the server's folders or error text
    from styletransfer.jobs import user_message

    told = user_message(err.value)
    assert "download.pytorch.org/models/vgg16-397923af.pth" in told and "not installed on this server" in told
    assert str(tmp_path) not in told and "URLError" not in told


def test_unknown_backbone_is_one_clear_error():
    with pytest.raises(ValueError, match="unknown backbone 'vgg99'"):
        load_backbone("vgg99")


# ------------------------------------------------------------------ the user's own networks

import io as _io  # noqa: E402
import pickle  # noqa: E402

import numpy as np  # noqa: E402
from torch import nn as _nn  # noqa: E402

from styletransfer import cli, stylize  # noqa: E402
from styletransfer.training import train  # noqa: E402
from styletransfer.backbones import CheckpointError, load_checkpoint_backbone  # noqa: E402


@pytest.fixture(scope="module")
def own_checkpoint(tmp_path_factory):
    folder = tmp_path_factory.mktemp("own")
    train.make_demo_data(str(folder / "data"), per_class=4, val_per_class=2, size=40)
    out = folder / "own.pt"
    assert train.main(["--data", str(folder / "data"), "--out", str(out), "--epochs", "1", "--batch-size", "8",
                       "--image-size", "32", "--workers", "0", "--quiet"]) == 0
    return str(out)


@pytest.fixture(scope="module")
def plain_state_dict(tmp_path_factory):
    import torchvision

    path = tmp_path_factory.mktemp("plain") / "resnet18-assignment2.pth"
    torch.save(torchvision.models.resnet18(weights=None, num_classes=10).state_dict(), path)
    return str(path)


class _Features(_nn.Module):
    def __init__(self):
        super().__init__()
        self.a = _nn.Conv2d(3, 8, 3, padding=1)
        self.b = _nn.Conv2d(8, 16, 3, stride=2, padding=1)

    def forward(self, x):
        a = torch.relu(self.a(x))
        return {"low": a, "high": torch.relu(self.b(a))}


@pytest.fixture(scope="module")
def scripted(tmp_path_factory):
    path = tmp_path_factory.mktemp("ts") / "features.ts"
    torch.jit.script(_Features()).save(str(path))
    return str(path)


def _runs(content_image, style_image, **kw):
    result = stylize(content_image, style_image, size=48, iterations=2, seed=0, **kw)
    assert result.size == (40, 48) and np.asarray(result).std() > 1
    return result


def test_a_checkpoint_of_the_training_script_is_a_backbone(own_checkpoint, content_image, style_image):
    net = load_checkpoint_backbone(own_checkpoint)
    assert net.layer_names == ("stem", "pool", "stage1", "stage2", "stage3", "stage4")
    assert net.content_layers == ("stage3",)
    result = _runs(content_image, style_image, backbone=own_checkpoint)
    assert result.info["settings"]["backbone"] == own_checkpoint
    _runs(content_image, style_image, backbone=own_checkpoint, style_layers=["stage1", "stage2"])


def test_a_plain_torchvision_state_dict_with_its_arch(plain_state_dict, content_image, style_image):
    net = load_checkpoint_backbone(plain_state_dict, "resnet18")
    assert "layer3" in net.layer_names  # 10 classes read from the weights: it loaded strictly
    _runs(content_image, style_image, backbone=plain_state_dict, backbone_arch="resnet18")
    with pytest.raises(CheckpointError, match="say which architecture it is for with --backbone-arch"):
        load_checkpoint_backbone(plain_state_dict)
    with pytest.raises(CheckpointError, match="do not fit resnet50"):
        load_checkpoint_backbone(plain_state_dict, "resnet50")


def test_a_rewritten_checkpoint_is_reloaded_and_its_earlier_version_let_go(tmp_path, monkeypatch):
    import torchvision

    monkeypatch.setattr(backbones, "_cache", {})
    path = str(tmp_path / "retrained.pth")
    weights = []
    for seed, mtime in ((0, 1_000_000), (1, 2_000_000)):
        torch.manual_seed(seed)
        torch.save(torchvision.models.resnet18(weights=None, num_classes=10).state_dict(), path)
        os.utime(path, (mtime, mtime))  # two saves within one clock tick must still count as two versions
        weights.append(load_backbone(path, arch="resnet18").layers["conv1"].weight)
    assert not torch.equal(weights[0], weights[1])
    assert [key[0] for key in backbones._cache] == [os.path.abspath(path)]


def test_a_torchscript_module_returning_named_features(scripted, content_image, style_image):
    net = load_checkpoint_backbone(scripted)
    assert net.layer_names == ("low", "high")
    _runs(content_image, style_image, backbone=scripted)


def test_list_layers(own_checkpoint, capsys):
    assert cli.main(["--list-layers", "--backbone", own_checkpoint]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "stem  (default style)" and "stage3  (default content, style)" in out


class _Evil:
    def __reduce__(self):
        return (print, ("this would run on load",))


@pytest.mark.parametrize("kind,message", [
    ("truncated", "truncated or damaged"),
    ("text", "not a PyTorch checkpoint or TorchScript file"),
    ("pickle", "holds Python objects, not just weights"),
    ("empty", "the file is empty"),
    ("no-tensors", "holds no state_dict"),
])
def test_a_bad_checkpoint_is_one_line_and_exit_2(tmp_path, own_checkpoint, image_files, capsys, kind, message):
    path = tmp_path / "bad.pt"
    if kind == "truncated":
        data = open(own_checkpoint, "rb").read()
        path.write_bytes(data[: len(data) // 2])
    elif kind == "text":
        path.write_text("hello\n" * 100)
    elif kind == "pickle":
        buf = _io.BytesIO()
        torch.save({"weights": _Evil()}, buf, pickle_protocol=pickle.DEFAULT_PROTOCOL)
        path.write_bytes(buf.getvalue())
    elif kind == "empty":
        path.write_bytes(b"")
    else:
        torch.save({"epochs": 3, "note": "no weights here"}, path)
    content, style = image_files
    out = tmp_path / "out.png"
    code = cli.main([str(content), str(style), "-o", str(out), "--backbone", str(path), "--backbone-arch",
                     "resnet18", "--size", "48", "--iterations", "1", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1 and "Traceback" not in err, err
    assert not out.exists()
