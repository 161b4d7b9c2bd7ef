"""Local response normalisation is the paper's formula (SPEC §1), per tower, edges and gradients included."""

import pytest
import torch

from alexnet.models import LocalResponseNorm, alexnet2012


def lrn_by_the_formula(a: torch.Tensor, n=5, alpha=1e-4, beta=0.75, k=2.0, groups=1) -> torch.Tensor:
    """b_i = a_i / (k + α Σ_{j=max(lo,i−n/2)}^{min(hi,i+n/2)} a_j²)^β, written as loops, where [lo, hi]
    is channel i's group (its tower) when the C channels are split into ``groups`` equal parts."""
    channels = a.shape[1]
    per = channels // groups
    b = torch.empty_like(a)
    for i in range(channels):
        first, last = (i // per) * per, (i // per) * per + per - 1
        lo, hi = max(first, i - n // 2), min(last, i + n // 2)
        s = sum(a[:, j] ** 2 for j in range(lo, hi + 1))
        b[:, i] = a[:, i] / (k + alpha * s) ** beta
    return b


@pytest.mark.parametrize("channels", [1, 2, 5, 7, 96])
def test_lrn_equals_the_formula_including_the_channel_edges(channels):
    torch.manual_seed(channels)
    a = torch.randn(2, channels, 4, 3, dtype=torch.float64) * 30  # large enough that the sum matters
    # float64 default tolerance (rtol 1e-7): the window sum in another order, ~1e-16 relative
    torch.testing.assert_close(LocalResponseNorm(alpha_convention="literal")(a), lrn_by_the_formula(a))
    torch.testing.assert_close(LocalResponseNorm()(a), lrn_by_the_formula(a, alpha=1e-4 / 5))  # cuda-convnet: α/n


@pytest.mark.parametrize("groups, channels", [(2, 96), (2, 256), (2, 6), (3, 9)])
def test_each_towers_lrn_is_the_formula_over_its_own_maps(groups, channels):
    torch.manual_seed(groups + channels)
    a = torch.randn(2, channels, 3, 3, dtype=torch.float64) * 40
    for convention, alpha in (("literal", 1e-4), ("cuda-convnet", 2e-5)):
        ours = LocalResponseNorm(alpha_convention=convention, groups=groups)(a)
        # float64 default tolerance (rtol 1e-7): the window sum in another order, ~1e-16 relative
        torch.testing.assert_close(ours, lrn_by_the_formula(a, alpha=alpha, groups=groups))
        # and it differs from one window over all the maps exactly at the tower boundaries (by ≥ 0.4 there,
        # elsewhere by float64 rounding only, ≤ 3e-14 of values up to ~170)
        across = lrn_by_the_formula(a, alpha=alpha)
        differs = (ours - across).abs().amax(dim=(0, 2, 3)) > 1e-12
        per = channels // groups
        near_edge = [min(abs(i - e) for e in [per * g - 0.5 for g in range(1, groups)]) < 2 for i in range(channels)]
        assert differs.tolist() == near_edge


def test_changing_tower_2s_maps_leaves_tower_1s_norm1_unchanged():
    """In alexnet2012 (two towers) each GPU normalised its own 48 conv1 maps (SPEC §1)."""
    torch.manual_seed(0)
    norm1 = alexnet2012(num_classes=10, input_size=64).features.norm1
    a = torch.rand(2, 96, 5, 5) * 50
    b = a.clone()
    b[:, 48:] = torch.rand(2, 48, 5, 5) * 500            # a different tower 2
    torch.testing.assert_close(norm1(a)[:, :48], norm1(b)[:, :48], rtol=0, atol=0)   # not a bit moves
    assert not torch.allclose(norm1(a)[:, 48:], norm1(b)[:, 48:])      # other inputs: values ~10 move by ≫ 1e-5
    across = alexnet2012(num_classes=10, input_size=64, lrn_per_tower=False).features.norm1
    assert not torch.equal(across(a)[:, :48], across(b)[:, :48])   # one window over 96 maps: tower 1 sees tower 2
    assert alexnet2012(num_classes=10, input_size=64, towers=1).features.norm1.groups == 1


def test_cuda_convnet_convention_is_pytorch_lrn_and_literal_is_alpha_times_n():
    a = torch.randn(2, 16, 5, 5) * 30
    # float32 default tolerance (rtol 1.3e-6): PyTorch sums the window by avg_pool3d, ours another way: ulps
    torch.testing.assert_close(LocalResponseNorm(5, 1e-4, 0.75, 2.0)(a),
                               torch.nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0)(a))
    torch.testing.assert_close(LocalResponseNorm(5, 1e-4, 0.75, 2.0, "literal")(a),
                               torch.nn.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0)(a))


def test_lrn_actually_normalises():
    a = torch.full((1, 5, 1, 1), 100.0)
    # centre channel: 100 / (2 + 1e-4 · 5 · 100²)^0.75 = 100 / 7^0.75 (literal); α/n: 100 / 3^0.75
    # (float32 against float64: approx's rtol 1e-6 is ~10 ulps)
    assert LocalResponseNorm(alpha_convention="literal")(a)[0, 2, 0, 0].item() == pytest.approx(100 / 7 ** 0.75)
    assert LocalResponseNorm()(a)[0, 2, 0, 0].item() == pytest.approx(100 / 3 ** 0.75)


@pytest.mark.parametrize("groups", [1, 2])
@pytest.mark.parametrize("convention", ["literal", "cuda-convnet"])
def test_the_analytic_backward_passes_gradcheck_in_float64(groups, convention):
    torch.manual_seed(0)
    a = (torch.rand(2, 8, 3, 3, dtype=torch.float64) * 20).requires_grad_()
    lrn = LocalResponseNorm(5, 1e-2, 0.75, 1.0, convention, groups=groups)   # a large α: the sum matters
    # float64 central differences with eps 1e-6: error ~eps² · f''' + 1e-16 / eps ≈ 1e-10 on gradients ~0.1
    assert torch.autograd.gradcheck(lrn, (a,), eps=1e-6, atol=1e-7)
    other_beta = LocalResponseNorm(3, 1e-2, 0.6, 2.0, convention, groups=groups)  # the general pow path
    assert torch.autograd.gradcheck(other_beta, (a,), eps=1e-6, atol=1e-7)


def test_the_function_keeps_only_the_input_and_the_scale_for_backward():
    a = (torch.rand(2, 6, 4, 4) * 10).requires_grad_()
    out = LocalResponseNorm(groups=2)(a)
    saved = out.grad_fn.saved_tensors
    assert len(saved) == 2 and saved[0].shape == a.shape and saved[1].shape == (2, 2, 3, 4, 4)
    with torch.no_grad():                              # eval: plain tensor ops, nothing recorded
        assert LocalResponseNorm()(a).grad_fn is None


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="odd"):
        LocalResponseNorm(4)
    with pytest.raises(ValueError, match="divisible by 2"):
        LocalResponseNorm(groups=2)(torch.ones(1, 5, 2, 2))
