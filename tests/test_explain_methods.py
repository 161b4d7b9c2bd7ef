"""alexnet.explain: occlusion, Grad-CAM, guided backpropagation, the towers measure, top patches."""

from __future__ import annotations

from collections import OrderedDict

import pytest
import torch
from torch import nn

from alexnet.explain import (colour_specificity, grad_cam, guided_backprop, occlusion_maps, receptive_field,
                             top_patches, tower_colour_specificity, towers_report)
from alexnet.models import alexnet2012, alexnet_owt
from alexnet.models.summary import summarize


# -- occlusion --------------------------------------------------------------------------------------
class PatchNet(nn.Module):
    """16×16 grey input; class 0's logit is 10 × the sum of the 4×4 cell at rows 8-11, cols 4-7, class 1's is 5."""

    LAYER_OUTPUTS = {"conv5": "features.relu5"}

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(OrderedDict([("conv5", nn.Conv2d(1, 1, 4, stride=4, bias=False)),
                                                   ("relu5", nn.ReLU(inplace=True))]))
        self.fc = nn.Linear(16, 2)
        with torch.no_grad():
            self.features.conv5.weight.fill_(1.0)
            self.fc.weight.zero_()
            self.fc.weight[0, 2 * 4 + 1] = 10.0        # cell (2, 1) of the 4×4 grid
            self.fc.bias.copy_(torch.tensor([0.0, 5.0]))

    def forward(self, x):
        return self.fc(torch.flatten(self.features(x), 1))


def patch_image() -> torch.Tensor:
    x = torch.full((1, 1, 16, 16), 0.5)
    x[..., 8:12, 4:8] = 1.0
    return x


def test_occlusion_is_lowest_over_the_planted_patch():
    r = occlusion_maps(PatchNet(), patch_image(), patch=4, stride=2)
    assert r["target"] == 0 and r["target_probability"] > 0.99
    assert r["rows"] == r["cols"] == [0, 2, 4, 6, 8, 10, 12]
    prob = r["probability"]
    low = divmod(int(prob.argmin()), prob.shape[1])
    assert (r["rows"][low[0]], r["cols"][low[1]]) == (8, 4)           # the square exactly on the patch
    assert prob.min() < 0.01 and prob.flatten().sort().values[1] > 0.99  # every other position barely matters
    act = r["activation"]
    assert divmod(int(act.argmin()), act.shape[1]) == low
    assert r["top_class_map"][low] == 1 and r["top_class_map"][0, 0] == 0


def test_occlusion_agrees_with_captum_where_windows_do_not_overlap():
    captum = pytest.importorskip("captum.attr")
    model, x = PatchNet().eval(), patch_image()
    r = occlusion_maps(model, x, patch=4, stride=4)
    attr = captum.Occlusion(lambda t: torch.softmax(model(t), 1)).attribute(
        x, sliding_window_shapes=(1, 4, 4), strides=(1, 4, 4), baselines=0.0, target=0)
    expected = r["target_probability"] - r["probability"]           # the drop at each position
    # the same softmax in float32 by two code paths: equal to ~1e-7
    assert torch.allclose(attr[0, 0, ::4, ::4], expected, atol=1e-6)


def test_occlusion_bad_square():
    with pytest.raises(ValueError, match="occluding square"):
        occlusion_maps(PatchNet(), patch_image(), patch=20)


# -- guided backpropagation and Grad-CAM ---------------------------------------------------------------
class ConvHead(nn.Module):
    LAYER_OUTPUTS = {"conv5": "features.relu5"}

    def __init__(self):
        super().__init__()
        torch.manual_seed(3)
        self.features = nn.Sequential(OrderedDict([("conv5", nn.Conv2d(2, 3, 3, padding=1)),
                                                   ("relu5", nn.ReLU(inplace=True))]))
        self.fc = nn.Linear(3 * 5 * 5, 4)
        self.num_classes = 4

    def forward(self, x):
        return self.fc(torch.flatten(self.features(x), 1))


def test_guided_backprop_written_out():
    pytest.importorskip("captum")
    net, x = ConvHead().eval(), torch.randn(1, 2, 5, 5)
    got = guided_backprop(net, x, target=2)
    conv = net.features.conv5
    pre = conv(x).detach()
    g_out = net.fc.weight[2].detach().view(1, 3, 5, 5)               # d logit_2 / d relu output
    g_pre = g_out.clamp_min(0) * (pre > 0)                            # guided: positive gradient, positive input
    expected = torch.nn.functional.conv_transpose2d(g_pre, conv.weight.detach(), padding=1)
    assert torch.allclose(got, expected, atol=1e-5)                  # float32, other order of sums
    plain = torch.nn.functional.conv_transpose2d(g_out * (pre > 0), conv.weight.detach(), padding=1)
    assert not torch.allclose(got, plain, atol=1e-3)


def test_grad_cam_written_out():
    pytest.importorskip("captum")
    net, x = ConvHead().eval(), torch.randn(2, 2, 5, 5)
    r = grad_cam(net, x)
    logits = net(x)
    assert torch.equal(r["target"], logits.argmax(1))
    a = net.features(x)                                               # conv5 maps after ReLU
    score = logits.gather(1, r["target"].view(-1, 1)).sum()
    a = net.features.relu5(net.features.conv5(x))
    score = net.fc(torch.flatten(a, 1)).gather(1, r["target"].view(-1, 1)).sum()
    (g,) = torch.autograd.grad(score, a)
    cam = (g.mean((-2, -1), keepdim=True) * a).sum(1).detach()       # signed
    assert torch.allclose(r["cam"], cam, atol=1e-5)                  # float32, other order of sums
    assert r["heatmap"].shape == (2, 5, 5) and (r["heatmap"] >= 0).all()
    assert torch.allclose(r["heatmap"], cam.clamp_min(0), atol=1e-5)  # same grid: interpolation is identity
    with pytest.raises(ValueError, match="out of range"):
        grad_cam(net, x, target=7)


def test_grad_cam_and_guided_backprop_on_the_paper_net_leave_it_unchanged():
    pytest.importorskip("captum")
    torch.manual_seed(0)
    model = alexnet2012(num_classes=5, in_channels=3, input_size=67).eval()
    x = torch.randn(1, 3, 67, 67) * 50
    before = model(x).detach()
    r = grad_cam(model, x)
    gb = guided_backprop(model, x)
    assert r["heatmap"].shape == (1, 67, 67) and gb.shape == x.shape and gb.abs().sum() > 0
    assert model.features.relu1.inplace and torch.equal(model(x).detach(), before)


# -- Figure 3's measure -------------------------------------------------------------------------------
def test_towers_measure_on_planted_kernels():
    torch.manual_seed(0)
    grey = torch.randn(48, 1, 11, 11).expand(48, 3, 11, 11)          # equal R, G, B: colour-agnostic
    one_channel = torch.zeros(24, 3, 11, 11)
    one_channel[:, 0] = torch.randn(24, 11, 11)                       # red only
    opponent = torch.randn(24, 1, 11, 11) * torch.tensor([1.0, -1.0, 0.0]).view(1, 3, 1, 1)  # R − G
    w = torch.cat([grey, one_channel, opponent])
    r = tower_colour_specificity(w, towers=2)
    # exact fractions computed in float32: within 1e-6
    assert r["per_tower"][0] == pytest.approx(0.0, abs=1e-6)
    assert r["per_tower"][1] == pytest.approx((2 / 3 + 1.0) / 2, abs=1e-6)
    assert r["kernels"] == [[0, 47], [48, 95]]
    scaled = colour_specificity(w * 7.0)                              # the measure ignores the kernel's scale
    assert torch.allclose(scaled, torch.tensor(r["per_kernel"]), atol=1e-6)
    # torchvision's std: grey in pixels is w / std equal across channels
    std = (0.2, 0.4, 0.5)
    pixel_grey = torch.ones(1, 3, 2, 2) * torch.tensor(std).view(1, 3, 1, 1)
    assert colour_specificity(pixel_grey, std)[0] == pytest.approx(0.0, abs=1e-6)
    assert colour_specificity(pixel_grey)[0] > 0.05


def test_towers_report_says_when_it_cannot_measure():
    grey_net = alexnet2012(num_classes=3, in_channels=1, input_size=64)
    r = towers_report(grey_net)
    assert r["per_tower"] is None and "grey kernels have no colour" in r["message"]
    one = towers_report(alexnet_owt(num_classes=3))
    assert one["towers"] == 1 and len(one["per_tower"]) == 1 and "1 tower" in one["message"]
    two = towers_report(alexnet2012(num_classes=3, input_size=67))
    assert two["message"] is None and len(two["per_tower"]) == 2


# -- top patches ----------------------------------------------------------------------------------------
def test_top_patches_are_the_strongest_images_and_their_fields():
    torch.manual_seed(0)
    model = alexnet2012(num_classes=3, in_channels=1, input_size=64).eval()
    images = torch.rand(10, 1, 64, 64) * 255 - 128
    best = top_patches(model, [images[:4], images[4:]], "conv2", maps=[3, 17], k=3)
    from alexnet.use.activations import conv_maps
    with torch.no_grad():
        acts = conv_maps(model, images, "conv2")
    for m, patches in best.items():
        peaks = acts[:, m].flatten(1).amax(1)
        assert [p.image for p in patches] == peaks.argsort(descending=True)[:3].tolist()
        for p in patches:
            assert acts[p.image, m, p.y, p.x] == p.activation == peaks[p.image]
            # conv1 11/4 → (r, j, start) = (11, 4, 5.5); pool1 3/2 → (19, 8, 9.5); conv2 5 pad 2 → (51, 8, 9.5)
            assert p.box == (8 * p.y - 16, 8 * p.x - 16, 8 * p.y + 35, 8 * p.x + 35)
    row = next(r for r in summarize("alexnet2012", input_size=64, in_channels=1)["layers"]
               if r["name"] == "features.relu2")
    assert receptive_field(model, "conv2", 64) == (row["receptive_field"], row["jump"], row["start"]) == (51, 8, 9.5)


def test_a_unit_sees_only_its_receptive_field():
    torch.manual_seed(1)
    model = alexnet_owt(num_classes=3).eval()
    x = torch.randn(1, 3, 96, 96)
    p = top_patches(model, x, "conv2", maps=[5], k=1)[5][0]
    top, left, bottom, right = p.box
    from alexnet.use.activations import conv_maps
    outside = torch.randn_like(x) * 5
    keep = torch.zeros_like(x, dtype=torch.bool)
    keep[..., max(top, 0):bottom, max(left, 0):right] = True
    changed = torch.where(keep, x, outside)
    with torch.no_grad():
        a = conv_maps(model, changed, "conv2")[0, 5, p.y, p.x]
    assert float(a) == pytest.approx(p.activation, rel=1e-5, abs=1e-5)   # same inputs, same sums (float32)
    inside = x.clone()
    inside[..., max(top, 0):bottom, max(left, 0):right] += 3.0
    with torch.no_grad():
        assert abs(float(conv_maps(model, inside, "conv2")[0, 5, p.y, p.x]) - p.activation) > 1e-3


def test_bad_layer_and_map_are_one_line_errors():
    model = alexnet2012(num_classes=3, in_channels=1, input_size=64)
    with pytest.raises(ValueError, match="unknown layer 'conv9'"):
        top_patches(model, torch.zeros(1, 1, 64, 64), "conv9", [0])
    with pytest.raises(ValueError, match="map index 96 is out of range: conv1 has 96 maps"):
        top_patches(model, torch.zeros(1, 1, 64, 64), "conv1", [96])
