"""The paper's network: two towers, LRN, overlapping pooling, dropout (SPEC §1).

    model = AlexNet2012()                  # 1000 classes, 224 or 227 crops, the paper's init
    logits = model(images)                 # images: (N, 3, 224, 224) float
    fc7 = model.forward_head(model.forward_features(images), pre_logits=True)  # (N, 4096)

The two GTX 580 towers are one device's ``groups=2`` convolutions: conv2, conv4 and conv5 see
only the maps of their own tower; conv3 and the fully connected layers see both.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Literal, get_args

from torch import nn

from .hooks import FixedInputHooks
from .lrn import LRN_ALPHA_CONVENTIONS, AlphaConvention, CeilPad2d, LocalResponseNorm, ceil_rule_padding

Pooling = Literal["overlapping", "non-overlapping"]
Activation = Literal["relu", "tanh"]
Init = Literal["cuda-convnet", "paper", "caffe", "zero-bias"]
POOLINGS, ACTIVATIONS, INITS = get_args(Pooling), get_args(Activation), get_args(Init)

# Standard deviation of the N(0, σ) weights and the constant bias of each layer, per init.
# "paper": section 5 as printed. "cuda-convnet": Krizhevsky's released two-GPU configuration
# (cuda-convnet2, layers/layers-imagenet-2gpu-model.cfg: initW 0.03 for conv3-conv5, the paper's
# biases). "caffe": bvlc_alexnet's train_val.prototxt. "zero-bias": cuda-convnet's weights, every
# bias 0 (for tanh units: the biases of 1 exist to keep ReLUs in their positive range; Figure 1).
_LAYERS = ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8")
_BIAS_ONE = ("conv2", "conv4", "conv5", "fc6", "fc7")
INIT_STD = {
    "paper": dict.fromkeys(_LAYERS, 0.01),
    "cuda-convnet": {**dict.fromkeys(_LAYERS, 0.01), "conv3": 0.03, "conv4": 0.03, "conv5": 0.03},
    "caffe": {**dict.fromkeys(_LAYERS, 0.01), "fc6": 0.005, "fc7": 0.005},
    "zero-bias": {**dict.fromkeys(_LAYERS, 0.01), "conv3": 0.03, "conv4": 0.03, "conv5": 0.03},
}
INIT_BIAS = {
    "paper": {name: 1.0 if name in _BIAS_ONE else 0.0 for name in _LAYERS},
    "cuda-convnet": {name: 1.0 if name in _BIAS_ONE else 0.0 for name in _LAYERS},
    "caffe": {name: 0.1 if name in _BIAS_ONE else 0.0 for name in _LAYERS},
    "zero-bias": dict.fromkeys(_LAYERS, 0.0),
}

# Kernels per conv layer for the two-tower net (both towers together) and for the paper's
# single-GPU comparison net, which halves conv1-conv4 but keeps conv5 and the FC layers
# (section 3.2 footnote: "we did not halve the size of the final convolutional layer").
CONV_WIDTHS = {2: (96, 256, 384, 384, 256), 1: (48, 128, 192, 192, 256)}


def _pool_size(size: int, pooling: str) -> int:
    kernel, stride = (3, 2) if pooling == "overlapping" else (2, 2)
    return (size - kernel) // stride + 1


def pool5_side(input_size: int, pooling: str = "overlapping") -> int:
    """Side of the pool5 maps for a square input (6 for 224 and 227 crops)."""
    n = ceil_rule_padding(input_size, 11, 4) + input_size
    n = (n - 11) // 4 + 1          # conv1
    n = _pool_size(n, pooling)     # pool1
    n = _pool_size(n, pooling)     # pool2 (conv2 keeps the size)
    n = _pool_size(n, pooling)     # pool5 (conv3-5 keep the size)
    if n < 1:
        raise ValueError(f"input_size={input_size} is too small for alexnet2012: pool5 would be empty")
    return n


class AlexNet2012(FixedInputHooks, nn.Module):
    """The network of Krizhevsky, Sutskever & Hinton (2012), one device, two towers as groups.

    Args:
        num_classes: size of fc8 (1000 for ILSVRC).
        in_channels: 3 for RGB; 1 for grey data such as Fashion-MNIST.
        towers: 2 (the paper's net) or 1 (its half-width single-GPU comparison net).
        lrn: apply local response normalisation after the ReLUs of conv1 and conv2.
        lrn_alpha: "cuda-convnet" (α/n = 2e-5 multiplies the window sum: the code behind the
            paper's numbers, Caffe and PyTorch) or "literal" (α = 1e-4, the formula as printed).
        lrn_k: the constant k of the LRN denominator (k + α'·Σa²)^β: 2 in the paper; 1 in Caffe
            (bvlc_alexnet's weights were trained with it).
        lrn_per_tower: each tower normalises over its own maps (48 in norm1, 128 in norm2), as each
            GPU did; False lets the window cross the tower boundary. One tower: one group anyway.
        pooling: "overlapping" (3×3, stride 2; the paper) or "non-overlapping" (2×2, stride 2).
        activation: "relu" (the paper) or "tanh" (its saturating comparison).
        dropout: probability p after the ReLUs of fc6 and fc7 (0.5 in the paper; 0 disables).
        init: "cuda-convnet" (Krizhevsky's released values: N(0, 0.03) in conv3-conv5, N(0, 0.01)
            elsewhere, biases as the paper), "paper" (as printed: all weights N(0, 0.01); biases 1
            in conv2, conv4, conv5, fc6, fc7, 0 elsewhere) or "caffe" (bvlc_alexnet: biases 0.1
            there, fc6/fc7 weights N(0, 0.005)) or "zero-bias" (cuda-convnet's weights, every bias 0:
            the tanh net of `alexnet experiment figure1`). docs/SPEC.md says why the default is not
            "paper".
        input_size: side of the square crops the net is built for; sets fc6's width.
            224 and 227 both give 6×6×256 pool5 maps (9216 inputs to fc6).
    """

    ARCH = "alexnet2012"
    #: The module whose output is each named layer (conv maps and fc vectors after their ReLU,
    #: pool5 as fc6 sees it): what :mod:`alexnet.use.activations` reads.
    LAYER_OUTPUTS = {"conv1": "features.relu1", "conv2": "features.relu2", "conv3": "features.relu3",
                     "conv4": "features.relu4", "conv5": "features.relu5", "pool5": "features.pool5",
                     "fc6": "pre_logits.relu6", "fc7": "pre_logits.relu7"}

    def __init__(self, num_classes: int = 1000, in_channels: int = 3, *, towers: Literal[1, 2] = 2,
                 lrn: bool = True, lrn_alpha: AlphaConvention = "cuda-convnet", lrn_k: float = 2.0,
                 lrn_per_tower: bool = True,
                 pooling: Pooling = "overlapping", activation: Activation = "relu", dropout: float = 0.5,
                 init: Init = "cuda-convnet", input_size: int = 224):
        super().__init__()
        if towers not in CONV_WIDTHS:
            raise ValueError(f"towers must be 2 (the paper's net) or 1 (half-width single tower), got {towers}")
        if lrn_alpha not in LRN_ALPHA_CONVENTIONS:
            raise ValueError(f"lrn_alpha must be one of {LRN_ALPHA_CONVENTIONS}, got {lrn_alpha!r}")
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
        if init not in INITS:
            raise ValueError(f"init must be one of {INITS}, got {init!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.num_classes, self.in_channels, self.towers = num_classes, in_channels, towers
        self.input_size, self.pooling, self.init = input_size, pooling, init
        self.num_features = 4096

        c1, c2, c3, c4, c5 = CONV_WIDTHS[towers]
        groups = towers

        def act() -> nn.Module:
            return nn.ReLU(inplace=True) if activation == "relu" else nn.Tanh()

        def pool() -> nn.Module:
            return nn.MaxPool2d(3, 2) if pooling == "overlapping" else nn.MaxPool2d(2, 2)

        def norm() -> nn.Module:
            if not lrn:
                return nn.Identity()
            return LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=float(lrn_k), alpha_convention=lrn_alpha,
                                     groups=towers if lrn_per_tower else 1)

        self.features = nn.Sequential(OrderedDict([
            ("pad1", CeilPad2d(11, 4)),                                # 224 → 227 (right/bottom 3)
            ("conv1", nn.Conv2d(in_channels, c1, 11, stride=4)),      # → 55×55×96
            ("relu1", act()), ("norm1", norm()), ("pool1", pool()),    # → 27×27×96
            ("conv2", nn.Conv2d(c1, c2, 5, padding=2, groups=groups)),  # → 27×27×256
            ("relu2", act()), ("norm2", norm()), ("pool2", pool()),    # → 13×13×256
            ("conv3", nn.Conv2d(c2, c3, 3, padding=1)),               # crosses towers → 13×13×384
            ("relu3", act()),
            ("conv4", nn.Conv2d(c3, c4, 3, padding=1, groups=groups)),  # → 13×13×384
            ("relu4", act()),
            ("conv5", nn.Conv2d(c4, c5, 3, padding=1, groups=groups)),  # → 13×13×256
            ("relu5", act()), ("pool5", pool()),                       # → 6×6×256
        ]))
        side = pool5_side(input_size, pooling)
        self.pool5_shape = (c5, side, side)
        self.pre_logits = nn.Sequential(OrderedDict([
            ("fc6", nn.Linear(c5 * side * side, 4096)), ("relu6", act()), ("drop6", nn.Dropout(dropout)),
            ("fc7", nn.Linear(4096, 4096)), ("relu7", act()), ("drop7", nn.Dropout(dropout)),
        ]))
        self.fc8 = nn.Linear(4096, num_classes)
        self.reset_parameters()

    # -- initialisation ----------------------------------------------------------------------
    def reset_parameters(self) -> None:
        """The chosen initialisation (:data:`INIT_STD`, :data:`INIT_BIAS`), layer by layer."""
        std, bias = INIT_STD[self.init], INIT_BIAS[self.init]
        for name, m in self.named_modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                layer = name.split(".")[-1]
                nn.init.normal_(m.weight, 0.0, std[layer])
                nn.init.constant_(m.bias, bias[layer])

    # -- timm-style hooks (forward_features, forward_head, get_classifier: FixedInputHooks) ------
    def reset_classifier(self, num_classes: int) -> None:
        """Replace fc8 with a freshly initialised layer of ``num_classes`` outputs (for fine-tuning)."""
        self.num_classes = num_classes
        self.fc8 = nn.Linear(4096, num_classes).to(self.fc8.weight.device)
        nn.init.normal_(self.fc8.weight, 0.0, INIT_STD[self.init]["fc8"])
        nn.init.constant_(self.fc8.bias, INIT_BIAS[self.init]["fc8"])
