"""Seed 003's simplified AlexNet (Dive into Deep Learning, PyTorch edition, section 5.6) (SPEC §6).

    model = AlexNetD2L()                       # 1 grey input channel, 10 classes, 224 px
    logits = model(images)                     # images: (N, 1, 224, 224)

One tower, no LRN, no groups, no padding in conv1 (so 224 px gives 54×54 maps and 5×5×256 = 6,400
inputs to fc6), dropout after the ReLUs of fc6 and fc7, PyTorch's default initialisation:
46,764,746 parameters at 1 channel and 10 classes. Module names follow the paper's layers.
"""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

from .hooks import FixedInputHooks


def pool5_side(input_size: int) -> int:
    """Side of the maps after the last pooling (5 for 224)."""
    n = (input_size - 11) // 4 + 1          # conv1, no padding
    for _ in range(3):                      # pool1, pool2 (conv2 keeps the size), pool5
        n = (n - 3) // 2 + 1
    if n < 1:
        raise ValueError(f"input_size={input_size} is too small for alexnet_d2l: pool5 would be empty")
    return n


class AlexNetD2L(FixedInputHooks, nn.Module):
    """d2l's ``AlexNet`` with the paper's layer names.

    Args:
        num_classes: 10 for Fashion-MNIST.
        in_channels: 1 (grey) as in the seed.
        dropout: p after the ReLUs of fc6 and fc7 (0.5).
        input_size: side of the square input; sets fc6's width (224 → 6,400).
    """

    ARCH = "alexnet_d2l"
    LAYER_OUTPUTS = {"conv1": "features.relu1", "conv2": "features.relu2", "conv3": "features.relu3",
                     "conv4": "features.relu4", "conv5": "features.relu5", "pool5": "features.pool5",
                     "fc6": "pre_logits.relu6", "fc7": "pre_logits.relu7"}

    def __init__(self, num_classes: int = 10, in_channels: int = 1, *, dropout: float = 0.5,
                 input_size: int = 224):
        super().__init__()
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.num_classes, self.in_channels, self.input_size = num_classes, in_channels, input_size
        self.num_features = 4096
        self.features = nn.Sequential(OrderedDict([
            ("conv1", nn.Conv2d(in_channels, 96, 11, stride=4)),    # 224 → 54×54×96
            ("relu1", nn.ReLU()), ("pool1", nn.MaxPool2d(3, 2)),    # → 26×26
            ("conv2", nn.Conv2d(96, 256, 5, padding=2)),            # → 26×26×256
            ("relu2", nn.ReLU()), ("pool2", nn.MaxPool2d(3, 2)),    # → 12×12
            ("conv3", nn.Conv2d(256, 384, 3, padding=1)), ("relu3", nn.ReLU()),
            ("conv4", nn.Conv2d(384, 384, 3, padding=1)), ("relu4", nn.ReLU()),
            ("conv5", nn.Conv2d(384, 256, 3, padding=1)), ("relu5", nn.ReLU()),
            ("pool5", nn.MaxPool2d(3, 2)),                           # → 5×5×256
        ]))
        side = pool5_side(input_size)
        self.pool5_shape = (256, side, side)
        self.pre_logits = nn.Sequential(OrderedDict([
            ("fc6", nn.Linear(256 * side * side, 4096)), ("relu6", nn.ReLU()), ("drop6", nn.Dropout(dropout)),
            ("fc7", nn.Linear(4096, 4096)), ("relu7", nn.ReLU()), ("drop7", nn.Dropout(dropout)),
        ]))
        self.fc8 = nn.Linear(4096, num_classes)

    def reset_classifier(self, num_classes: int) -> None:
        """A fresh fc8 of ``num_classes`` outputs (PyTorch's default init, as the seed)."""
        self.num_classes = num_classes
        self.fc8 = nn.Linear(4096, num_classes).to(self.fc8.weight.device)
