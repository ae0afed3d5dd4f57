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


def test_unknown_backbone_is_one_clear_error():
    with pytest.raises(ValueError, match="unknown backbone 'vgg99'"):
        load_backbone("vgg99")
