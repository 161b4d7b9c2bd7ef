"""torchvision's `alexnet`: the one-tower net of "One weird trick" (Krizhevsky, 2014) (SPEC §5).

State-dict keys are torchvision's (``features.{0,3,6,8,10}``, ``classifier.{1,4,6}``), so
``torchvision.models.alexnet().state_dict()`` and ``alexnet-owt-7be5be79.pth`` load strictly.
"""

from __future__ import annotations

import torch
from torch import nn


class AlexNetOWT(nn.Module):
    """One tower, no LRN, 64-192-384-256-256 kernels, adaptive 6×6 pooling, dropout before fc6/fc7.

    Args:
        num_classes: size of the last layer (1000 for ILSVRC).
        in_channels: 3 for RGB; 1 for grey data.
        dropout: probability before fc6 and fc7 (0.5 as torchvision).

    Initialised with PyTorch's defaults, as torchvision does.
    """

    #: See :attr:`alexnet.models.AlexNet2012.LAYER_OUTPUTS` (indices are torchvision's).
    LAYER_OUTPUTS = {"conv1": "features.1", "conv2": "features.4", "conv3": "features.7", "conv4": "features.9",
                     "conv5": "features.11", "pool5": "avgpool", "fc6": "classifier.2", "fc7": "classifier.5"}

    def __init__(self, num_classes: int = 1000, in_channels: int = 3, *, dropout: float = 0.5):
        super().__init__()
        self.num_classes, self.in_channels = num_classes, in_channels
        self.num_features = 4096
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 64, kernel_size=11, stride=4, padding=2),  # 0  → 55×55×64
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),                           # 2  → 27×27×64
            nn.Conv2d(64, 192, kernel_size=5, padding=2),                    # 3  → 27×27×192
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),                           # 5  → 13×13×192
            nn.Conv2d(192, 384, kernel_size=3, padding=1),                   # 6
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1),                   # 8
            nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, kernel_size=3, padding=1),                   # 10
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),                           # 12 → 6×6×256
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout),
            nn.Linear(256 * 6 * 6, 4096),   # 1: fc6
            nn.ReLU(inplace=True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, 4096),          # 4: fc7
            nn.ReLU(inplace=True),
            nn.Linear(4096, num_classes),   # 6: fc8
        )

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Images (N, C, H, W) → conv5 maps after pooling (N, 256, 6, 6) at 224."""
        return self.features(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """conv maps → logits, or the 4096-d fc7 vector (after its ReLU) if ``pre_logits``."""
        x = torch.flatten(self.avgpool(x), 1)
        x = self.classifier[:6](x)
        return x if pre_logits else self.classifier[6](x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def get_classifier(self) -> nn.Module:
        return self.classifier[6]

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the last layer with a fresh one of ``num_classes`` outputs (PyTorch default init)."""
        self.num_classes = num_classes
        self.classifier[6] = nn.Linear(4096, num_classes).to(self.classifier[1].weight.device)
