"""Nets for the `alexnet explain` tests: a demo-like net (the paper's alexnet2012 on 1-channel 64-px
images from 28-px stores, as `alexnet demo` writes it) with seeded random weights."""

from __future__ import annotations

from pathlib import Path

import torch

from alexnet.models import alexnet2012
from alexnet.weights import save_weights

FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot"]
DEMO_PREPROCESSING = {"stored_size": 28, "resize": 64, "crop": 64, "channels": 1, "pixel_scale": 255.0,
                      "mean": None, "std": None, "mean_image": True, "source_resize": "square"}


def demo_like_model(seed: int = 0):
    torch.manual_seed(seed)
    return alexnet2012(num_classes=10, in_channels=1, input_size=64)


def demo_like_weights(path: Path, seed: int = 0) -> Path:
    """A 1-channel 64-px alexnet2012 with Fashion-MNIST's classes and a 28-px mean image."""
    save_weights(path, demo_like_model(seed), class_names=FASHION_CLASSES, preprocessing=DEMO_PREPROCESSING,
                 extra_tensors={"mean_image": torch.full((1, 28, 28), 72.9)})
    return path
