"""Models: the paper's two-tower AlexNet, torchvision's one-tower relative, seed 003's d2l net, the LRN."""

from .alexnet2012 import AlexNet2012
from .d2l import AlexNetD2L
from .lrn import CeilPad2d, LocalResponseNorm
from .owt import AlexNetOWT
from .registry import alexnet2012, alexnet_d2l, alexnet_owt, create, list_models, load, model_class

__all__ = ["AlexNet2012", "AlexNetD2L", "AlexNetOWT", "CeilPad2d", "LocalResponseNorm", "alexnet2012",
           "alexnet_d2l", "alexnet_owt", "create", "list_models", "load", "model_class"]
