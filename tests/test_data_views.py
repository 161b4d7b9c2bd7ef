"""The one interpreter of a weights file's preprocessing: views of stored images, and pictures
turned stored-like (alexnet.data.views)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from alexnet.data.process import to_square_rgb
from alexnet.data.views import Preprocessing, make_view_fn, pil_to_stored, ten_views, to_channels
from alexnet.weights import TORCHVISION_PREPROCESSING
from data_fixtures import picture, png_bytes

S = 32


def stored(b=3, c=3, seed=1, size=S):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (b, c, size, size), dtype=torch.uint8, generator=g)


def test_ten_views_are_the_right_pixels():
    x = torch.arange(2 * 1 * 6 * 8).view(2, 1, 6, 8)
    v = ten_views(x, 4)
    assert v.shape == (10, 2, 1, 4, 4)
    assert torch.equal(v[0], x[:, :, 0:4, 0:4]) and torch.equal(v[1], x[:, :, 0:4, 4:8])
    assert torch.equal(v[2], x[:, :, 2:6, 0:4]) and torch.equal(v[3], x[:, :, 2:6, 4:8])
    assert torch.equal(v[4], x[:, :, 1:5, 2:6])
    for k in range(5):
        assert torch.equal(v[5 + k], v[k].flip(-1))


def test_paper_views_subtract_the_mean_image_at_each_views_own_offset():
    x, mean = stored(), torch.rand(3, S, S) * 255
    pre = Preprocessing(stored_size=S, resize=S, crop=20, channels=3, pixel_scale=255.0, mean_image=True)
    one = make_view_fn(pre, mean, views=1)(x)
    assert one.shape == (1, 3, 3, 20, 20)
    # crops and one float32 subtraction of the same numbers: exact on any CPU
    torch.testing.assert_close(one[0], x[:, :, 6:26, 6:26].float() - mean[:, 6:26, 6:26], rtol=0, atol=0)
    ten = make_view_fn(pre, mean, views=10)(x)
    torch.testing.assert_close(ten, ten_views(x, 20).float() - ten_views(mean[None], 20), rtol=0, atol=0)
    torch.testing.assert_close(ten[4], one[0], rtol=0, atol=0)        # view 4 is the centre crop


def test_torchvision_views_scale_to_unit_range_then_normalise():
    x = stored()
    pre = Preprocessing.from_dict({**TORCHVISION_PREPROCESSING, "stored_size": S, "resize": S, "crop": 20})
    out = make_view_fn(pre)(x)[0]
    mean, std = torch.tensor(pre.mean).view(1, 3, 1, 1), torch.tensor(pre.std).view(1, 3, 1, 1)
    # assert_close's float32 default (rtol 1.3e-6, atol 1e-5): the same arithmetic in any order, a few ulps
    torch.testing.assert_close(out, (x[:, :, 6:26, 6:26].float() / 255 - mean) / std)


def test_small_stored_images_are_resized_whole_after_the_mean_is_subtracted():
    x, mean = stored(c=1, size=28), torch.rand(1, 28, 28) * 255
    pre = Preprocessing(stored_size=28, resize=64, crop=64, channels=1, pixel_scale=255.0, mean_image=True)
    out = make_view_fn(pre, mean)(x)[0]
    ref = torch.nn.functional.interpolate(x.float() - mean, size=(64, 64), mode="bilinear", align_corners=False)
    torch.testing.assert_close(out, ref)          # float32 default tolerance: the same resize, a few ulps of ~255


def test_grey_stores_feed_rgb_nets_and_rgb_stores_grey_nets():
    g = stored(c=1)
    rgb = make_view_fn(Preprocessing(stored_size=S, resize=S, crop=S, channels=3))(g)[0]
    assert rgb.shape == (3, 3, S, S) and torch.equal(rgb[:, 0], rgb[:, 2])
    c = stored(c=3)
    grey = make_view_fn(Preprocessing(stored_size=S, resize=S, crop=S, channels=1))(c)[0]
    luma = 0.299 * c[:, 0].float() + 0.587 * c[:, 1].float() + 0.114 * c[:, 2].float()
    torch.testing.assert_close(grey[:, 0], luma)     # pixel_scale 255: [0, 255] kept; sum order may differ: ulps
    torch.testing.assert_close(to_channels(torch.ones(3, 2, 2), 1), torch.ones(1, 2, 2))  # 0.299+0.587+0.114: ulps


def test_a_wrong_mean_image_or_size_is_a_clear_error():
    pre = Preprocessing(stored_size=S, resize=S, crop=20, channels=3, mean_image=True)
    with pytest.raises(ValueError, match="holds no preprocess.mean_image"):
        make_view_fn(pre, None)
    with pytest.raises(ValueError, match=r"mean image is \(3, 16, 16\)"):
        make_view_fn(pre, torch.zeros(3, 16, 16))
    with pytest.raises(ValueError, match="expected stored images of 32×32"):
        make_view_fn(pre, torch.zeros(3, S, S))(stored(size=40))
    with pytest.raises(ValueError, match="views must be 1"):
        make_view_fn(pre, torch.zeros(3, S, S), views=3)
    with pytest.raises(ValueError, match="crops 40×40 out of a 32×32"):
        Preprocessing(stored_size=S, resize=S, crop=40, channels=3)


def test_older_files_get_defaults_from_the_mean_image_and_the_net():
    pre = Preprocessing.from_dict({"resize": 64, "crop": 64, "channels": 1, "pixel_scale": 255.0,
                                   "mean_image": True}, mean_image=torch.zeros(1, 28, 28))
    assert (pre.stored_size, pre.source_resize) == (28, "square")
    pre = Preprocessing.from_dict({}, crop=227, channels=3)
    assert (pre.stored_size, pre.resize, pre.crop, pre.pixel_scale, pre.mean_image) == (227, 227, 227, 255.0, False)
    assert Preprocessing.from_dict(pre.to_dict()) == pre
    with pytest.raises(ValueError, match="no 'crop'"):
        Preprocessing.from_dict({})


def test_square_pictures_become_what_prepare_stores_before_its_jpeg():
    img = picture(80, 50, 3)
    pre = Preprocessing(stored_size=S, resize=S, crop=24, channels=3)
    got = pil_to_stored([img, img.transpose(Image.Transpose.TRANSPOSE)], pre)
    assert got.shape == (2, 3, S, S) and got.dtype == torch.uint8
    ref = np.asarray(to_square_rgb(png_bytes(img), S)[0])
    assert np.array_equal(got[0].permute(1, 2, 0).numpy(), ref)


@pytest.mark.parametrize("size", [(300, 200), (200, 300), (256, 256), (513, 257), (100, 90)])
def test_shorter_side_pictures_equal_torchvisions_own_pipeline(size):
    """torchvision's weights: Resize(256) + CenterCrop(224) + ToTensor + Normalize, reproduced as
    stored-like 256² image + centre view. The same Pillow resize and crop, so only the float
    arithmetic can differ (x/255 then (x−m)/s in both): within 1e-6."""
    from torchvision.models import AlexNet_Weights
    img = picture(*size, seed=sum(size))
    pre = Preprocessing.from_dict(TORCHVISION_PREPROCESSING)
    ours = make_view_fn(pre)(pil_to_stored([img], pre))[0, 0]
    theirs = AlexNet_Weights.IMAGENET1K_V1.transforms()(img)
    torch.testing.assert_close(ours, theirs, atol=1e-6, rtol=0)
