"""timm's model hooks for the nets whose fc6 is sized for one input size (alexnet2012, alexnet_d2l).

    pool5 = net.forward_features(images)                 # the conv stack: features
    fc7 = net.forward_head(pool5, pre_logits=True)      # (N, 4096), after fc7's ReLU (and dropout in train mode)
    logits = net.forward_head(pool5)                    # fc8

A class using :class:`FixedInputHooks` has ``features``, ``pre_logits`` (fc6 → fc7), ``fc8``,
``pool5_shape`` and ``input_size``, and names itself in ``ARCH``.
"""

from __future__ import annotations

import torch
from torch import nn


class FixedInputHooks:
    ARCH = "the net"

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Images (N, C, H, W) → pool5 maps (N, *pool5_shape)."""
        return self.features(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """pool5 maps → logits (N, num_classes), or the 4096-d fc7 vector if ``pre_logits``."""
        if tuple(x.shape[1:]) != self.pool5_shape:
            raise ValueError(
                f"{self.ARCH} was built for input_size={self.input_size} (pool5 maps {self.pool5_shape}) "
                f"but got pool5 maps {tuple(x.shape[1:])}; feed {self.input_size}-pixel images or build the "
                f"model with input_size equal to your image size")
        x = self.pre_logits(torch.flatten(x, 1))
        return x if pre_logits else self.fc8(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def get_classifier(self) -> nn.Module:
        return self.fc8
