"""Layers the paper defines that PyTorch does not ship in the paper's form.

- :class:`LocalResponseNorm`: section 3.3's brightness normalisation, per tower, written as the
  formula, with the analytic gradient as one autograd Function.
- :class:`CeilPad2d`: cuda-convnet's output-size rule for conv1 (224 crops → 55×55).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

#: The two readings of α (SPEC §1). "literal": the paper's formula as printed,
#: b = a / (k + α Σ a²)^β. "cuda-convnet": cuda-convnet2 (and Caffe, PyTorch) divide α by n.
LRN_ALPHA_CONVENTIONS = ("literal", "cuda-convnet")
AlphaConvention = Literal["literal", "cuda-convnet"]


def channel_window_sum(x: torch.Tensor, size: int) -> torch.Tensor:
    """Σ_{j=max(0,i−n/2)}^{min(C−1,i+n/2)} x[..., j, :, :] for every channel i of ``x`` (…, C, H, W).

    The window is clipped at the channel edges (zero beyond them), and the channel axis is
    the third from last, so a (N, G, C/G, H, W) view sums within each of the G groups and never
    across their boundary. No padded copy: one clone and ``size − 1`` in-place slice adds.
    """
    out = x.clone()
    channels = x.shape[-3]
    for d in range(1, min(size // 2, channels - 1) + 1):
        out[..., d:, :, :] += x[..., :-d, :, :]
        out[..., :-d, :, :] += x[..., d:, :, :]
    return out


def _neg_pow(scale: torch.Tensor, beta: float) -> torch.Tensor:
    """scale^(−β); the paper's β = 0.75 as rsqrt(s)·sqrt(rsqrt(s)), several times cheaper than pow."""
    if beta == 0.75:
        r = scale.rsqrt()
        return r.sqrt().mul_(r)
    return scale.pow(-beta)


def lrn_forward(a: torch.Tensor, size: int, alpha: float, beta: float, k: float,
                groups: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(b, scale) for ``a`` (N, C, H, W): scale = k + α'·window_sum(a²) within each channel group,
    b = a · scale^(−β). ``alpha`` is α', the factor of the window sum."""
    n, c, h, w = a.shape
    a5 = a.view(n, groups, c // groups, h, w)
    scale = channel_window_sum(a5.square(), size).mul_(alpha).add_(k)
    return (a5 * _neg_pow(scale, beta)).view(n, c, h, w), scale


class _LRNFunction(torch.autograd.Function):
    """The forward keeps only the input and the scale; the backward is the analytic gradient
    (as Caffe's and cuda-convnet's LRN compute it):

        ∂L/∂a_j = g_j · s_j^(−β) − 2α'β · a_j · Σ_{i: j ∈ window(i)} g_i · b_i / s_i

    and the window is symmetric, so the sum runs over window(j) within j's group.
    """

    @staticmethod
    def forward(ctx, a, size: int, alpha: float, beta: float, k: float, groups: int):
        b, scale = lrn_forward(a, size, alpha, beta, k, groups)
        ctx.save_for_backward(a, scale)
        ctx.params = (size, alpha, beta, groups)
        return b

    @staticmethod
    def backward(ctx, grad):
        a, scale = ctx.saved_tensors
        size, alpha, beta, groups = ctx.params
        n, c, h, w = a.shape
        a5 = a.view(n, groups, c // groups, h, w)
        g5 = grad.contiguous().view(n, groups, c // groups, h, w)
        p = _neg_pow(scale, beta)                         # s^(−β)
        t = g5 * a5 * p / scale                           # g · b / s
        ws = channel_window_sum(t, size).mul_(a5).mul_(2.0 * alpha * beta)
        return torch.addcmul(-ws, g5, p).view(n, c, h, w), None, None, None, None, None


class LocalResponseNorm(nn.Module):
    """Local response normalisation across channels, exactly the paper's formula, per channel group.

    b[i] = a[i] / (k + α' · Σ_{j=max(0, i−n/2)}^{min(N−1, i+n/2)} a[j]²)^β

    with α' = α / n (``alpha_convention="cuda-convnet"``: cuda-convnet2's, Caffe's and PyTorch's
    reading) or α' = α (``"literal"``: the formula as printed). ``groups`` splits the channels
    into that many consecutive groups (the towers) and the window is clipped at each group's
    edges: in the two-GPU net each GPU normalised its own maps. Input (N, C, H, W), C divisible
    by ``groups``. The paper's values: size=5, alpha=1e-4, beta=0.75, k=2.

    ``LocalResponseNorm(5, 1e-4, 0.75, 2, "cuda-convnet")`` equals
    ``torch.nn.LocalResponseNorm(5, 1e-4, 0.75, 2)`` when ``groups=1``.

    When autograd records (training), the forward is one autograd Function that saves only the
    input and the scale, with the analytic backward; otherwise (eval, and tracing for ONNX or
    TorchScript export) the same forward runs as plain tensor operations.
    """

    def __init__(self, size: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 2.0,
                 alpha_convention: AlphaConvention = "cuda-convnet", groups: int = 1):
        super().__init__()
        if size < 1 or size % 2 == 0:
            raise ValueError(f"LRN size must be a positive odd number (the paper's n=5), got {size}")
        if alpha_convention not in LRN_ALPHA_CONVENTIONS:
            raise ValueError(f"alpha_convention must be one of {LRN_ALPHA_CONVENTIONS}, got {alpha_convention!r}")
        if groups < 1:
            raise ValueError(f"groups must be at least 1, got {groups}")
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k
        self.alpha_convention, self.groups = alpha_convention, groups

    @property
    def effective_alpha(self) -> float:
        """The α' that multiplies the window sum in the formula."""
        return self.alpha if self.alpha_convention == "literal" else self.alpha / self.size

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        if a.shape[1] % self.groups:
            raise ValueError(f"LRN over {self.groups} groups needs a channel count divisible by {self.groups}, "
                             f"got {a.shape[1]}")
        args = (self.size, self.effective_alpha, self.beta, self.k, self.groups)
        a = a.contiguous()
        if torch.is_grad_enabled() and a.requires_grad and not torch.jit.is_tracing():  # tracing: export
            return _LRNFunction.apply(a, *args)
        return lrn_forward(a, *args)[0]

    def extra_repr(self) -> str:
        return (f"size={self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}, "
                f"alpha_convention={self.alpha_convention!r}, groups={self.groups}")


def ceil_rule_padding(size: int, kernel: int, stride: int) -> int:
    """Right/bottom zero padding that makes a floor-rule conv give cuda-convnet's ceil-rule size.

    cuda-convnet computes out = ceil((size − kernel) / stride) + 1; for the paper's 224 crop and
    conv1 (11, stride 4) that is 55, the same as padding the right and bottom edges by 3.
    """
    if size < kernel:
        raise ValueError(f"input of {size} pixels is smaller than the {kernel}×{kernel} kernel")
    out = math.ceil((size - kernel) / stride) + 1
    return (out - 1) * stride + kernel - size


class CeilPad2d(nn.Module):
    """Zero-pads right and bottom so the next conv follows cuda-convnet's ceil rule.

    The padding is computed from each input's size: 224 → 3 (paper crops), 227 → 0 (Caffe crops).
    """

    def __init__(self, kernel: int, stride: int):
        super().__init__()
        self.kernel, self.stride = kernel, stride

    def padding_for(self, height: int, width: int) -> tuple[int, int]:
        return (ceil_rule_padding(height, self.kernel, self.stride),
                ceil_rule_padding(width, self.kernel, self.stride))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad_h, pad_w = self.padding_for(x.shape[-2], x.shape[-1])
        if pad_h == 0 and pad_w == 0:
            return x
        return F.pad(x, (0, pad_w, 0, pad_h))

    def extra_repr(self) -> str:
        return f"kernel={self.kernel}, stride={self.stride}, sides='right,bottom'"
