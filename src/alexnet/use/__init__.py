"""Using a trained AlexNet: classify, extract fc7 features, retrieve neighbours, draw, export.

    from alexnet.use import Predictor, FeatureIndex
    predictor = Predictor("runs/demo/model.safetensors")
    predictor.predict("shoe.png", topk=5)                 # [[("Sneaker", 0.93), ...]]
    fc7 = predictor.features(["a.png", "b.png"])          # (2, 4096)

Submodules: :mod:`~alexnet.use.images` (finding/opening images), :mod:`~alexnet.use.predict`,
:mod:`~alexnet.use.activations` (fc7/fc6/pool5 and conv maps), :mod:`~alexnet.use.features`,
:mod:`~alexnet.use.retrieve`, :mod:`~alexnet.use.visualize`, :mod:`~alexnet.use.export`.
"""

from .images import ImageReadError, find_images, open_image
from .activations import CONV_LAYERS, FEATURE_LAYERS, conv_maps, layer_output
from .predict import Prediction, Predictor
from .retrieve import FeatureIndex

__all__ = ["CONV_LAYERS", "FEATURE_LAYERS", "FeatureIndex", "ImageReadError", "Prediction", "Predictor",
           "conv_maps", "find_images", "layer_output", "open_image"]
