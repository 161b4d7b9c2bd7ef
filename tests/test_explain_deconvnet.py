"""alexnet.explain.deconvnet: Zeiler & Fergus's projection, checked against the three steps written out."""

from __future__ import annotations

from collections import OrderedDict

import pytest
import torch
from torch import nn

from alexnet.explain import deconv_projection, deconv_projections, strongest_maps
from alexnet.explain._net import LRNSkippedBackward, hookable_copy
from alexnet.models import alexnet2012
from alexnet.models.lrn import LocalResponseNorm

pytest.importorskip("captum")


class Tiny(nn.Module):
    """conv (1→2, 3×3) → ReLU → max-pool 2×2 → conv (2→1, 2×2) → ReLU, weights set by hand."""

    LAYER_OUTPUTS = {"conv1": "features.relu1", "conv2": "features.relu2"}

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(OrderedDict([
            ("conv1", nn.Conv2d(1, 2, 3, bias=False)), ("relu1", nn.ReLU(inplace=True)),
            ("pool1", nn.MaxPool2d(2, 2)), ("conv2", nn.Conv2d(2, 1, 2, bias=False)),
            ("relu2", nn.ReLU(inplace=True))]))
        with torch.no_grad():
            w1 = torch.tensor([[[1., 0., -1.], [2., 0., -2.], [1., 0., -1.]],     # vertical edges
                               [[0., 1., 0.], [1., -4., 1.], [0., 1., 0.]]])       # a Laplacian
            self.features.conv1.weight.copy_(w1.unsqueeze(1))
            # mixed signs: the signal going down is negative in places
            self.features.conv2.weight.copy_(torch.tensor([[[[1.0, -0.5], [0.25, 2.0]],
                                                            [[-1.5, 0.5], [1.0, -0.75]]]]))

    def forward_features(self, x):
        return self.features(x)


IMAGE = torch.tensor([[0., 1., 3., 0., 2., 1.],
                      [2., 0., 1., 4., 0., 0.],
                      [1., 3., 0., 1., 2., 5.],
                      [0., 2., 4., 0., 1., 0.],
                      [3., 0., 1., 2., 0., 1.],
                      [1., 1., 0., 3., 2., 0.]]).view(1, 1, 6, 6)


def written_out(net: Tiny, image: torch.Tensor) -> torch.Tensor:
    """The deconvnet of conv2's one unit, step by step with loops (no autograd)."""
    w1, w2 = net.features.conv1.weight.detach(), net.features.conv2.weight.detach()
    a1 = torch.zeros(2, 4, 4)                                 # conv1 → ReLU, forward
    for c in range(2):
        for y in range(4):
            for x in range(4):
                a1[c, y, x] = max(0.0, float((w1[c, 0] * image[0, 0, y:y + 3, x:x + 3]).sum()))
    switches = {}                                             # pool 2×2: where each window's maximum is
    pooled = torch.zeros(2, 2, 2)
    for c in range(2):
        for py in range(2):
            for px in range(2):
                window = a1[c, 2 * py:2 * py + 2, 2 * px:2 * px + 2]
                k = int(window.flatten().argmax())
                switches[c, py, px] = (2 * py + k // 2, 2 * px + k % 2)
                pooled[c, py, px] = window.max()
    activation = max(0.0, float((w2[0] * pooled).sum()))     # conv2 → ReLU: the one unit
    down = torch.zeros(2, 2, 2)                               # ReLU on the signal, then conv2's transposed filter
    for c in range(2):
        for i in range(2):
            for j in range(2):
                down[c, i, j] = w2[0, c, i, j] * max(activation, 0.0)
    unpooled = torch.zeros(2, 4, 4)                           # unpool through the switches
    for (c, py, px), (y, x) in switches.items():
        unpooled[c, y, x] += down[c, py, px]
    unpooled = unpooled.clamp_min(0)                          # ReLU on the reconstructed signal
    pixels = torch.zeros(6, 6)                                # conv1's transposed filters
    for c in range(2):
        for y in range(4):
            for x in range(4):
                pixels[y:y + 3, x:x + 3] += w1[c, 0] * unpooled[c, y, x]
    return pixels


def test_projection_equals_the_steps_written_out():
    net = Tiny().eval()
    expected = written_out(net, IMAGE)
    got = deconv_projection(net, IMAGE, "conv2", 0)[0, 0]
    assert expected.abs().sum() > 0
    # the same sums in another order (float32): equal to ~1e-6
    assert torch.allclose(got, expected, atol=1e-5), (got, expected)


def test_projection_differs_from_the_plain_gradient():
    net = Tiny().eval()
    projection = deconv_projection(net, IMAGE, "conv2", 0)[0, 0]
    x = IMAGE.clone().requires_grad_(True)
    out = net.forward_features(x)[0, 0, 0, 0]
    (grad,) = torch.autograd.grad(out, x)
    gradient = grad[0, 0] * out.detach()                      # the plain gradient, scaled like the projection
    assert not torch.allclose(projection, gradient, atol=1e-3)
    # Where they differ: the gradient lets the negative parts of the signal through (where conv1 was
    # active) and the deconvnet rectifies them. Both share the switches, so rectifying the
    # gradient's signal at the unpooled level gives the projection again.
    w1 = net.features.conv1.weight.detach()
    a1 = torch.relu(torch.nn.functional.conv2d(IMAGE, w1))
    _, switch = torch.nn.functional.max_pool2d(a1, 2, 2, return_indices=True)
    w2 = net.features.conv2.weight.detach()
    signal = (w2[0] * out.detach()).view(1, 2, 4)             # (1, 2, 2×2) flattened pooled grid
    unpooled = torch.nn.functional.max_unpool2d(signal.view(1, 2, 2, 2), switch, 2, 2, output_size=(4, 4))
    masked = unpooled * (a1 > 0)                              # the gradient's ReLU: the forward mask
    assert (unpooled.clamp_min(0) != masked).any()            # this input exercises the difference
    grad_again = torch.nn.functional.conv_transpose2d(masked, w1)[0, 0]
    assert torch.allclose(grad_again, gradient, atol=1e-5)    # float32 order of sums


def test_lrn_runs_forward_and_is_skipped_backward():
    lrn = LocalResponseNorm(5, groups=2)
    wrapped = LRNSkippedBackward(lrn)
    x = torch.rand(1, 8, 3, 3, requires_grad=True)
    y = wrapped(x)
    assert torch.equal(y.detach(), lrn(x.detach()))
    (g,) = torch.autograd.grad(y.sum(), x)
    assert torch.equal(g, torch.ones_like(g))


def test_hookable_copy_shares_weights_and_leaves_the_model_alone():
    torch.manual_seed(0)
    model = alexnet2012(num_classes=3, in_channels=1, input_size=64)
    copy = hookable_copy(model, skip_lrn_backward=True)
    assert copy.features.conv1.weight is model.features.conv1.weight
    assert model.features.relu1.inplace and not copy.features.relu1.inplace
    assert isinstance(model.features.norm1, LocalResponseNorm)
    assert isinstance(copy.features.norm1, LRNSkippedBackward)


def test_demo_like_net_projects_its_strongest_maps():
    torch.manual_seed(0)
    model = alexnet2012(num_classes=3, in_channels=1, input_size=64).eval()
    x = torch.rand(2, 1, 64, 64) * 255 - 128
    top = strongest_maps(model, x[:1], "conv3", n=3)
    assert len(top) == 3 and top[0][1] >= top[1][1] >= top[2][1]
    proj = deconv_projections(model, x, "conv3", [(0, top[0][0], 1, 1), (1, 5, 0, 2)])
    assert proj.shape == (2, 1, 64, 64) and proj.abs().sum() > 0
