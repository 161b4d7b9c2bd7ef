"""Layers the paper defines that PyTorch does not ship in the paper's form.

- :class:`LocalResponseNorm`: section 3.3's brightness normalisation, written as the formula.
- :class:`CeilPad2d`: cuda-convnet's output-size rule for conv1 (224 crops → 55×55).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

#: The two readings of α (SPEC §1). "literal": the paper's formula as printed,
#: b = a / (k + α Σ a²)^β. "cuda-convnet": cuda-convnet2 (and PyTorch, Caffe) divide α by n.
LRN_ALPHA_CONVENTIONS = ("literal", "cuda-convnet")


class LocalResponseNorm(nn.Module):
    """Local response normalisation across channels, exactly the paper's formula.

    b[i] = a[i] / (k + α' · Σ_{j=max(0, i−n/2)}^{min(N−1, i+n/2)} a[j]²)^β

    with α' = α (``alpha_convention="literal"``, the default and the seeds' formula) or
    α' = α / n (``"cuda-convnet"``: cuda-convnet2's, Caffe's and PyTorch's reading).
    The sum runs over the ``size`` channels centred on ``i``, clipped at the channel edges.
    Input (N, C, H, W). The paper's values: size=5, alpha=1e-4, beta=0.75, k=2.

    ``LocalResponseNorm(5, 1e-4, 0.75, 2)`` equals ``torch.nn.LocalResponseNorm(5, 5e-4, 0.75, 2)``.
    """

    def __init__(self, size: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 2.0,
                 alpha_convention: str = "literal"):
        super().__init__()
        if size < 1 or size % 2 == 0:
            raise ValueError(f"LRN size must be a positive odd number (the paper's n=5), got {size}")
        if alpha_convention not in LRN_ALPHA_CONVENTIONS:
            raise ValueError(f"alpha_convention must be one of {LRN_ALPHA_CONVENTIONS}, got {alpha_convention!r}")
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k
        self.alpha_convention = alpha_convention

    @property
    def effective_alpha(self) -> float:
        """The α that multiplies the window sum in the formula."""
        return self.alpha if self.alpha_convention == "literal" else self.alpha / self.size

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        half = self.size // 2
        sq = a.square()
        # Zero channels beyond both edges, so each window sum is clipped at 0 and N−1.
        padded = F.pad(sq, (0, 0, 0, 0, half, half))  # (N, C + 2·half, H, W)
        channels = a.shape[1]
        window_sum = padded[:, 0:channels]
        for offset in range(1, self.size):
            window_sum = window_sum + padded[:, offset:offset + channels]
        return a / (self.k + self.effective_alpha * window_sum).pow(self.beta)

    def extra_repr(self) -> str:
        return (f"size={self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}, "
                f"alpha_convention={self.alpha_convention!r}")


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
