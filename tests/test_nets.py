"""Our own architecture: ResNeXt with a three-conv stem, average-pool shortcuts and a pooled head."""
import torch

from styletransfer import nets


def test_every_size_classifies_and_has_the_imagenet_scale_parameter_counts():
    counts = {name: sum(p.numel() for p in nets.build_net(name, num_classes=1000).parameters())
              for name in nets.PRESETS}
    assert 24e6 < counts["resnext50-32x4d"] < 26e6 and 25e6 < counts["resnet50-d"] < 26e6
    assert counts["resnext-tiny"] < 1e6
    out = nets.build_net("resnext-tiny", num_classes=6)(torch.zeros(2, 3, 64, 64))
    assert out.shape == (2, 6)


def test_the_parts_are_the_ones_described():
    net = nets.build_net("resnext-tiny")
    assert [m.kernel_size for m in net.stem.modules() if isinstance(m, torch.nn.Conv2d)] == [(3, 3)] * 3
    block = net.stage2[0]
    assert isinstance(block.shortcut[0], torch.nn.AvgPool2d)          # ResNet-D shortcut
    assert block.body[1][0].groups == net.config.cardinality          # grouped 3×3
    assert torch.all(block.body[-1][1].weight == 0)                   # zero-init last BN
    assert isinstance(net.head[2], torch.nn.Dropout)


def test_every_stage_output_is_a_named_layer():
    net = nets.build_net("resnext-tiny")
    layers = nets.feature_layers(net)
    assert list(layers) == ["stem", "pool", "stage1", "stage2", "stage3", "stage4"]
    x = torch.zeros(1, 3, 64, 64)
    for module in layers.values():
        x = module(x)
    assert x.shape[1] == net.config.widths[-1]


def test_config_round_trips():
    config = nets.PRESETS["resnext-small"]
    assert nets.NetConfig.from_dict(config.to_dict()) == config
