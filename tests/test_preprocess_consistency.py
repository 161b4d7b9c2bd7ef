"""Inference on a PIL image sees exactly what training and evaluation fed the net for that image."""

import numpy as np
import torch
from PIL import Image

from alexnet.data.augment import preprocess_pil
from alexnet.evaluate import view_fn_from_preprocessing


def test_small_store_weights_pil_input_equals_the_evaluation_view():
    """Fashion-MNIST-style weights: mean image at the stored 28 px, net input 64 px."""
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (28, 28), dtype=np.uint8)
    mean = torch.from_numpy(rng.uniform(0, 255, (1, 28, 28)).astype(np.float32))
    pre = {"resize": 64, "crop": 64, "channels": 1, "pixel_scale": 255.0, "mean": None, "std": None,
           "mean_image": True}
    stored = torch.from_numpy(pixels)[None, None]                       # (1, 1, 28, 28) uint8
    for views in (1, 10):
        expected = view_fn_from_preprocessing(pre, mean, views=views, stored_size=28)(stored)
        got = preprocess_pil([Image.fromarray(pixels)], pre, mean, views=views)
        expected = expected[0] if views == 1 else expected
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-3)


def test_larger_photo_for_small_store_weights_goes_through_the_stored_size():
    pre = {"resize": 64, "crop": 64, "channels": 1, "pixel_scale": 255.0, "mean": None, "std": None,
           "mean_image": True}
    mean = torch.full((1, 28, 28), 50.0)
    photo = Image.fromarray(np.random.default_rng(1).integers(0, 256, (120, 90, 3), dtype=np.uint8))
    x = preprocess_pil([photo], pre, mean)
    assert x.shape == (1, 1, 64, 64)
    square = photo.convert("L").resize((28, 28), Image.Resampling.BILINEAR, box=(0, 15, 90, 105))
    stored = torch.from_numpy(np.asarray(square).copy())[None, None]
    expected = view_fn_from_preprocessing(pre, mean, views=1, stored_size=28)(stored)[0]
    torch.testing.assert_close(x, expected, rtol=0, atol=1e-3)


def test_downsampling_weights_pil_input_equals_the_evaluation_view():
    """A small net fine-tuned on a 256-px store: mean at 256, images resized whole to 64."""
    rng = np.random.default_rng(2)
    pixels = rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)
    mean = torch.from_numpy(rng.uniform(0, 255, (3, 256, 256)).astype(np.float32))
    pre = {"resize": 64, "crop": 64, "channels": 3, "pixel_scale": 255.0, "mean": None, "std": None,
           "mean_image": True}
    stored = torch.from_numpy(pixels).permute(2, 0, 1)[None]
    expected = view_fn_from_preprocessing(pre, mean, views=1, stored_size=256)(stored)[0]
    got = preprocess_pil([Image.fromarray(pixels)], pre, mean)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-3)
