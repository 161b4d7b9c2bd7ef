"""The paper's network (SPEC §1): sizes, towers, options, initialisation, timm hooks."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from alexnet import models
from alexnet.models import AlexNet2012, LocalResponseNorm


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


@pytest.fixture(scope="module")
def paper_net() -> AlexNet2012:
    torch.manual_seed(0)
    return models.alexnet2012().eval()


def test_alexnet2012_has_the_papers_60_965_224_parameters(paper_net):
    assert n_params(paper_net) == 60_965_224


def test_each_layer_has_the_spec_parameter_count(paper_net):
    f = paper_net.features
    counts = [n_params(m) for m in (f.conv1, f.conv2, f.conv3, f.conv4, f.conv5,
                                    paper_net.pre_logits.fc6, paper_net.pre_logits.fc7, paper_net.fc8)]
    assert counts == [34_944, 307_456, 885_120, 663_936, 442_624, 37_752_832, 16_781_312, 4_097_000]


@pytest.mark.parametrize("size", [224, 227])
def test_224_and_227_crops_give_55x55_conv1_maps_and_1000_logits(paper_net, size):
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        conv1 = paper_net.features.conv1(paper_net.features.pad1(x))
        pool5 = paper_net.forward_features(x)
        logits = paper_net(x)
    assert conv1.shape == (2, 96, 55, 55)
    assert pool5.shape == (2, 256, 6, 6)
    assert logits.shape == (2, 1000)


def test_224_crop_equals_227_crop_zero_padded_right_and_bottom_by_3(paper_net):
    """cuda-convnet's ceil rule is the same as padding the right/bottom edges of a 224 crop by 3."""
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        a = paper_net(x)
        b = paper_net(F.pad(x, (0, 3, 0, 3)))
        c = paper_net(F.pad(x, (3, 0, 3, 0)))  # padding on the wrong side is a different net input
    torch.testing.assert_close(a, b, rtol=0, atol=0)   # exact: the net pads the 224 crop to this very 227 input
    assert not torch.allclose(a, c)                    # another input: logits ~1 differ by far more than 1e-5


def _perturb_channels(x: torch.Tensor, channels: slice) -> torch.Tensor:
    y = x.clone()
    y[:, channels] += torch.randn_like(y[:, channels])
    return y


@pytest.mark.parametrize("layer,in_channels,out_channels", [
    ("conv2", 96, 256), ("conv4", 384, 384), ("conv5", 384, 256)])
def test_grouped_layer_of_tower_1_never_sees_tower_2s_maps(paper_net, layer, in_channels, out_channels):
    conv = getattr(paper_net.features, layer)
    x = torch.randn(1, in_channels, 7, 7)
    with torch.no_grad():
        y = conv(x)
        y_after_tower2_change = conv(_perturb_channels(x, slice(in_channels // 2, None)))
        y_after_tower1_change = conv(_perturb_channels(x, slice(0, in_channels // 2)))
    half = out_channels // 2
    torch.testing.assert_close(y[:, :half], y_after_tower2_change[:, :half], rtol=0, atol=0)   # not a bit moves
    assert not torch.allclose(y[:, half:], y_after_tower2_change[:, half:])   # moved by ~N(0, 1) inputs: ≫ 1e-5
    torch.testing.assert_close(y[:, half:], y_after_tower1_change[:, half:], rtol=0, atol=0)


def test_conv3_crosses_towers(paper_net):
    conv3 = paper_net.features.conv3
    x = torch.randn(1, 256, 5, 5)
    with torch.no_grad():
        y, y2 = conv3(x), conv3(_perturb_channels(x, slice(128, None)))
    changed = (y - y2).abs().amax(dim=(0, 2, 3)) > 0
    assert changed.all(), "every conv3 map (both towers) sees tower 2's conv2 maps"


def test_fc6_crosses_towers_by_gradient(paper_net):
    pool5 = torch.randn(1, 256, 6, 6, requires_grad=True)
    paper_net.pre_logits.fc6(pool5.flatten(1))[0, :10].sum().backward()
    grad_per_map = pool5.grad.abs().sum(dim=(0, 2, 3))
    assert (grad_per_map[:128] > 0).all() and (grad_per_map[128:] > 0).all()


def test_lrn_follows_relu_before_pooling_in_conv1_and_conv2(paper_net):
    names = list(paper_net.features._modules)
    for i in (1, 2):
        assert names.index(f"relu{i}") < names.index(f"norm{i}") < names.index(f"pool{i}")
        assert isinstance(getattr(paper_net.features, f"norm{i}"), LocalResponseNorm)
    norm = paper_net.features.norm1
    assert (norm.size, norm.alpha, norm.beta, norm.k, norm.alpha_convention) == (5, 1e-4, 0.75, 2.0, "cuda-convnet")
    assert norm.groups == 2 and paper_net.features.norm2.groups == 2     # each tower normalises its own maps


def test_pooling_is_overlapping_3_stride_2(paper_net):
    pools = [m for m in paper_net.modules() if isinstance(m, nn.MaxPool2d)]
    assert len(pools) == 3 and all((p.kernel_size, p.stride) == (3, 2) for p in pools)


def test_dropout_half_after_relu_of_fc6_and_fc7(paper_net):
    names = list(paper_net.pre_logits._modules)
    assert names == ["fc6", "relu6", "drop6", "fc7", "relu7", "drop7"]
    assert paper_net.pre_logits.drop6.p == 0.5 and paper_net.pre_logits.drop7.p == 0.5


def _layers(net):
    f = net.features
    return {"conv1": f.conv1, "conv2": f.conv2, "conv3": f.conv3, "conv4": f.conv4, "conv5": f.conv5,
            "fc6": net.pre_logits.fc6, "fc7": net.pre_logits.fc7, "fc8": net.fc8}


@pytest.mark.parametrize("init, conv345_std", [("paper", 0.01), ("cuda-convnet", 0.03)])
def test_paper_and_cuda_convnet_inits_weights_and_bias_1_in_conv2_conv4_conv5_fc6_fc7(init, conv345_std):
    """paper: N(0, 0.01) everywhere as printed; cuda-convnet: Krizhevsky's released configs, N(0, 0.03)
    in conv3-conv5. Both: biases 1 in conv2, conv4, conv5, fc6, fc7 and 0 elsewhere."""
    torch.manual_seed(0)
    net = models.alexnet2012(init=init, num_classes=10, input_size=67)
    for name, layer in _layers(net).items():
        w = layer.weight.detach()
        std = conv345_std if name in ("conv3", "conv4", "conv5") else 0.01
        # sampled from n ≥ 34,848 draws: the mean's standard error is std/√n ≤ std/186 and the std's
        # ≤ 0.4 %, so 5 % is > 10σ, yet far from the other inits' 3× or 2×
        assert abs(w.mean().item()) < std / 10, name
        assert w.std().item() == pytest.approx(std, rel=0.05), name
        expected_bias = 1.0 if name in ("conv2", "conv4", "conv5", "fc6", "fc7") else 0.0
        assert torch.all(layer.bias == expected_bias), name
    assert models.alexnet2012(num_classes=2, input_size=67).init == "cuda-convnet"   # the default


def test_caffe_init_uses_bias_01_and_std_0005_for_fc6_fc7():
    torch.manual_seed(0)
    net = models.alexnet2012(init="caffe", num_classes=10, input_size=67)
    for name, layer in _layers(net).items():
        std = 0.005 if name in ("fc6", "fc7") else 0.01
        assert layer.weight.std().item() == pytest.approx(std, rel=0.05), name   # n ≥ 34,848 draws: see above
        expected_bias = 0.1 if name in ("conv2", "conv4", "conv5", "fc6", "fc7") else 0.0
        torch.testing.assert_close(layer.bias.detach(), torch.full_like(layer.bias, expected_bias), rtol=0, atol=0)


def test_forward_head_pre_logits_returns_the_4096_fc7_vector_and_reset_classifier(paper_net):
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        feats = paper_net.forward_features(x)
        fc7 = paper_net.forward_head(feats, pre_logits=True)
        logits = paper_net.forward_head(feats)
    assert fc7.shape == (2, 4096) and (fc7 >= 0).all()  # after ReLU
    torch.testing.assert_close(logits, paper_net.fc8(fc7), rtol=0, atol=0)   # the same fc8 on the same fc7
    net = models.alexnet2012(num_classes=10, input_size=67)
    net.reset_classifier(7)
    assert net(torch.randn(1, 3, 67, 67)).shape == (1, 7) and net.num_classes == 7


def test_wrong_input_size_is_a_clear_error(paper_net):
    with pytest.raises(ValueError, match="input_size=224"):
        paper_net(torch.randn(1, 3, 160, 160))


def test_single_tower_is_the_papers_half_width_net_with_full_conv5():
    net = models.alexnet2012(towers=1, num_classes=10, input_size=67)
    f = net.features
    assert [f.conv1.out_channels, f.conv2.out_channels, f.conv3.out_channels, f.conv4.out_channels,
            f.conv5.out_channels] == [48, 128, 192, 192, 256]
    assert all(c.groups == 1 for c in (f.conv2, f.conv4, f.conv5))
    assert net.pre_logits.fc6.in_features == 256  # conv5 kept full size, so fc6 is unchanged in kind


OPTIONS = [
    {}, {"towers": 1}, {"lrn": False}, {"lrn_alpha": "cuda-convnet"}, {"pooling": "non-overlapping"},
    {"activation": "tanh"}, {"dropout": 0.0}, {"dropout": 0.3}, {"init": "caffe"},
]


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "default")
def test_every_option_builds_runs_forward_and_backward_on_grey_10_class_input(options):
    torch.manual_seed(0)
    net = models.alexnet2012(num_classes=10, in_channels=1, input_size=67, **options)
    x = torch.randn(4, 1, 67, 67)
    out = net(x)
    assert out.shape == (4, 10) and torch.isfinite(out).all()
    out.logsumexp(1).sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())


def test_options_change_the_network_as_documented():
    def kinds(net, t):
        return [m for m in net.modules() if isinstance(m, t)]
    assert not kinds(models.alexnet2012(lrn=False, input_size=67), LocalResponseNorm)
    assert all(n.alpha_convention == "cuda-convnet" and n.effective_alpha == pytest.approx(2e-5)  # 1e-4 / 5
               for n in kinds(models.alexnet2012(lrn_alpha="cuda-convnet", input_size=67), LocalResponseNorm))
    assert all((p.kernel_size, p.stride) == (2, 2)
               for p in kinds(models.alexnet2012(pooling="non-overlapping", input_size=67), nn.MaxPool2d))
    tanh = models.alexnet2012(activation="tanh", input_size=67)
    assert len(kinds(tanh, nn.Tanh)) == 7 and not kinds(tanh, nn.ReLU)
    assert models.alexnet2012(dropout=0.2, input_size=67).pre_logits.drop7.p == 0.2


@pytest.mark.parametrize("bad", [{"towers": 3}, {"pooling": "avg"}, {"activation": "gelu"}, {"init": "xavier"},
                                 {"lrn_alpha": "tf"}, {"dropout": 1.0}, {"input_size": 40}])
def test_bad_options_are_clear_errors(bad):
    with pytest.raises(ValueError):
        models.alexnet2012(**bad)


def test_registry_creates_by_name_and_rejects_unknown_names():
    assert set(models.list_models()) == {"alexnet2012", "alexnet_owt", "alexnet_d2l"}
    net = models.create("alexnet2012", num_classes=3, input_size=67)
    assert isinstance(net, AlexNet2012) and net.arch == "alexnet2012" and net.model_kwargs == {"input_size": 67}
    with pytest.raises(ValueError, match="unknown model"):
        models.create("vgg16")
