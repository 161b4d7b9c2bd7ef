"""Inference on a picture sees exactly what training and evaluation fed the net for that image:
the picture becomes the stored image (pil_to_stored) and goes through the same view function."""

import numpy as np
import torch
from PIL import Image

from alexnet.data.views import Preprocessing, make_view_fn, pil_to_stored

SMALL = Preprocessing(stored_size=28, resize=64, crop=64, channels=1, pixel_scale=255.0, mean_image=True)


def test_a_fashion_mnist_picture_reaches_the_net_as_training_saw_it(tmp_path):
    """Fashion-MNIST-style weights (mean image at the stored 28 px, net input 64 px): a training image
    saved as a 28×28 grey picture and read by predict's path (pil_to_stored) is the stored image that
    `alexnet prepare` wrote from the idx file, so the net's input is the same view of the same pixels."""
    import gzip

    from train_fixtures import write_fashion_idx

    from alexnet.data.prepare import prepare
    from alexnet.data.store import PreparedStore
    root = write_fashion_idx(tmp_path / "fm", n_train=8, n_test=4)
    prepare(root, tmp_path / "store", progress=False)
    store = PreparedStore(tmp_path / "store", "train")
    with gzip.open(root / "train-images-idx3-ubyte.gz") as f:
        raw = np.frombuffer(f.read()[16:], np.uint8).reshape(-1, 28, 28)
    picture = tmp_path / "3.png"
    Image.fromarray(raw[3]).save(picture)
    with Image.open(picture) as im:
        from_predict = pil_to_stored([im], SMALL)[0]
    from_training = torch.from_numpy(np.array(store.decode(3))).permute(2, 0, 1)
    assert torch.equal(from_predict, from_training)
    view = make_view_fn(SMALL, torch.from_numpy(np.full((1, 28, 28), 72.0, np.float32)), views=1)
    assert view(from_predict[None]).shape == (1, 1, 1, 64, 64)


def test_a_larger_photo_for_small_store_weights_goes_through_the_stored_size():
    photo = Image.fromarray(np.random.default_rng(1).integers(0, 256, (120, 90, 3), dtype=np.uint8))
    stored = pil_to_stored([photo.convert("L")], SMALL)
    square = photo.convert("L").resize((28, 28), Image.Resampling.BILINEAR, box=(0, 15, 90, 105))
    assert torch.equal(stored[0, 0], torch.from_numpy(np.asarray(square).copy()))


def test_rgb_picture_for_a_downsampling_net_is_stored_at_256_then_resized_whole():
    """A small net fine-tuned on a 256-px store: mean at 256, images resized whole to 64."""
    rng = np.random.default_rng(2)
    pixels = rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)
    pre = Preprocessing(stored_size=256, resize=64, crop=64, channels=3, pixel_scale=255.0, mean_image=True)
    stored = pil_to_stored([Image.fromarray(pixels)], pre)
    assert torch.equal(stored[0], torch.from_numpy(pixels).permute(2, 0, 1))
    mean = torch.from_numpy(rng.uniform(0, 255, (3, 256, 256)).astype(np.float32))
    x = make_view_fn(pre, mean)(stored)[0]
    ref = torch.nn.functional.interpolate(stored.float() - mean, size=(64, 64), mode="bilinear",
                                          align_corners=False, antialias=True)
    torch.testing.assert_close(x, ref)   # float32 default (rtol 1.3e-6): the same resize, a few ulps of ~255
