"""Local response normalisation is the paper's formula (SPEC §1), edges and gradients included."""

import pytest
import torch

from alexnet.models import LocalResponseNorm


def lrn_by_the_formula(a: torch.Tensor, n=5, alpha=1e-4, beta=0.75, k=2.0) -> torch.Tensor:
    """b_i = a_i / (k + α Σ_{j=max(0,i−n/2)}^{min(N−1,i+n/2)} a_j²)^β, written as loops."""
    channels = a.shape[1]
    b = torch.empty_like(a)
    for i in range(channels):
        lo, hi = max(0, i - n // 2), min(channels - 1, i + n // 2)
        s = sum(a[:, j] ** 2 for j in range(lo, hi + 1))
        b[:, i] = a[:, i] / (k + alpha * s) ** beta
    return b


@pytest.mark.parametrize("channels", [1, 2, 5, 7, 96])
def test_lrn_equals_the_formula_including_the_channel_edges(channels):
    torch.manual_seed(channels)
    a = torch.randn(2, channels, 4, 3, dtype=torch.float64) * 30  # large enough that the sum matters
    torch.testing.assert_close(LocalResponseNorm()(a), lrn_by_the_formula(a))


def test_cuda_convnet_convention_divides_alpha_by_n():
    a = torch.randn(2, 9, 3, 3, dtype=torch.float64) * 30
    lrn = LocalResponseNorm(alpha_convention="cuda-convnet")
    torch.testing.assert_close(lrn(a), lrn_by_the_formula(a, alpha=1e-4 / 5))


def test_literal_formula_is_pytorch_lrn_with_alpha_times_n():
    a = torch.randn(2, 16, 5, 5) * 30
    ours = LocalResponseNorm(5, 1e-4, 0.75, 2.0)(a)
    torch.testing.assert_close(ours, torch.nn.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0)(a))


def test_lrn_actually_normalises():
    a = torch.full((1, 5, 1, 1), 100.0)
    b = LocalResponseNorm()(a)
    # centre channel: 100 / (2 + 1e-4 · 5 · 100²)^0.75 = 100 / 7^0.75
    assert b[0, 2, 0, 0].item() == pytest.approx(100 / 7 ** 0.75)


def test_lrn_backward_passes_gradcheck_in_float64():
    torch.manual_seed(0)
    a = (torch.randn(2, 7, 3, 3, dtype=torch.float64) * 20).requires_grad_()
    assert torch.autograd.gradcheck(LocalResponseNorm(), (a,), eps=1e-6, atol=1e-5)
    assert torch.autograd.gradcheck(LocalResponseNorm(3, 1e-2, 0.75, 1.0, "cuda-convnet"), (a,), eps=1e-6, atol=1e-5)


def test_even_size_is_rejected():
    with pytest.raises(ValueError, match="odd"):
        LocalResponseNorm(4)
