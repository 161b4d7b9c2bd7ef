"""Models: the paper's two-tower AlexNet, torchvision's one-tower relative, the LRN layer."""

from .alexnet2012 import AlexNet2012
from .layers import CeilPad2d, LocalResponseNorm
from .owt import AlexNetOWT
from .registry import alexnet2012, alexnet_owt, create, list_models, load

__all__ = ["AlexNet2012", "AlexNetOWT", "CeilPad2d", "LocalResponseNorm", "alexnet2012",
           "alexnet_owt", "create", "list_models", "load"]
