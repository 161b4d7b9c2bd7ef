"""Seed 003's simplified AlexNet (d2l, SPEC §6): its layers, shapes, parameter count and default init."""

import pytest
import torch
from torch import nn

from alexnet import models
from alexnet.models.d2l import pool5_side


def test_d2l_net_has_46_764_746_parameters_at_1_channel_10_classes_224_px():
    net = models.alexnet_d2l()
    assert sum(p.numel() for p in net.parameters()) == 46_764_746


def test_d2l_shapes_layer_by_layer_at_224():
    net = models.alexnet_d2l().eval()
    shapes = {}
    for name, module in net.features.named_children():
        module.register_forward_hook(lambda m, i, o, name=name: shapes.__setitem__(name, tuple(o.shape[1:])))
    with torch.no_grad():
        out = net(torch.zeros(2, 1, 224, 224))
    # conv1 has no padding: (224 − 11) // 4 + 1 = 54 (the paper's net pads to 55)
    assert shapes["conv1"] == (96, 54, 54) and shapes["pool1"] == (96, 26, 26)
    assert shapes["conv2"] == (256, 26, 26) and shapes["pool2"] == (256, 12, 12)
    assert shapes["conv3"] == (384, 12, 12) and shapes["conv4"] == (384, 12, 12)
    assert shapes["conv5"] == (256, 12, 12) and shapes["pool5"] == (256, 5, 5)
    assert net.pre_logits.fc6.in_features == 6400 and out.shape == (2, 10)


def test_d2l_net_is_one_tower_without_lrn_and_dropout_after_the_fc_relus():
    net = models.alexnet_d2l()
    assert all(m.groups == 1 for m in net.modules() if isinstance(m, nn.Conv2d))
    assert not any("norm" in name.lower() for name, _ in net.named_modules())
    names = [n for n, _ in net.pre_logits.named_children()]
    assert names == ["fc6", "relu6", "drop6", "fc7", "relu7", "drop7"]
    assert net.pre_logits.drop6.p == net.pre_logits.drop7.p == 0.5


def test_d2l_net_keeps_pytorchs_default_init():
    torch.manual_seed(0)
    net = models.alexnet_d2l()
    w = net.pre_logits.fc6.weight
    # PyTorch's default: kaiming_uniform(a=√5) = U(−1/√fan_in, 1/√fan_in); the paper's init would be N(0, 0.01)
    bound = 1 / 6400 ** 0.5
    assert w.abs().max() <= bound and w.abs().max() > 0.99 * bound
    assert net.pre_logits.fc6.bias.abs().max() <= bound          # not the paper's constant 1 or 0
    assert net.pre_logits.fc6.bias.std() > 0


def test_smallest_input_and_other_sizes():
    assert pool5_side(224) == 5 and pool5_side(67) == 1
    with pytest.raises(ValueError, match="too small"):
        pool5_side(66)
    net = models.alexnet_d2l(input_size=96)
    assert net(torch.zeros(1, 1, 96, 96)).shape == (1, 10)
    with pytest.raises(ValueError, match="built for input_size=96"):
        net(torch.zeros(1, 1, 224, 224))
