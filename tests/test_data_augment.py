"""The batched transforms: crops, flips, PCA lighting, mean image, 10 views, torchvision style."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from alexnet.data.augment import (PaperEvalTransform, PaperTrainTransform, RandomResizedCropTransform,
                                  SPEC_IMAGENET_PCA, TorchvisionEvalTransform, preprocess_pil, ten_views)
from alexnet.data.process import to_square_rgb
from alexnet.data.store import DatasetStats

H = 32


def stats(seed=0):
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    return DatasetStats(mean_image=rng.uniform(0, 255, (H, H, 3)).astype(np.float32),
                        eigval=np.array([0.2, 0.05, 0.01]), eigvec=q, pixel_scale=255.0)


def images(b=5, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (b, 3, H, H), dtype=torch.uint8, generator=g)


def test_train_transform_equals_per_image_reference():
    st, x = stats(), images(12)
    tf = PaperTrainTransform(crop=20, stats=st)
    p = tf.sample(12, H, H, torch.Generator().manual_seed(0))
    out = tf.apply(x, **p)
    assert out.shape == (12, 3, 20, 20) and out.dtype == torch.float32
    mean = torch.from_numpy(st.mean_image).permute(2, 0, 1)
    for b in range(12):
        y0, x0 = p["offsets"][b].tolist()
        img = x[b, :, y0:y0 + 20, x0:x0 + 20].float()
        m = mean[:, y0:y0 + 20, x0:x0 + 20]
        if p["flips"][b]:
            img, m = img.flip(-1), m.flip(-1)
        shift = 255.0 * sum(float(p["alphas"][b, i]) * st.eigval[i] * st.eigvec[:, i] for i in range(3))
        ref = img - m + torch.tensor(shift, dtype=torch.float32)[:, None, None]
        torch.testing.assert_close(out[b], ref, atol=1e-4, rtol=0)
    assert p["flips"].any() and not p["flips"].all()          # both cases were exercised
    assert len(set(map(tuple, p["offsets"].tolist()))) > 1


def test_lighting_adds_exactly_the_pca_shift():
    st = stats()
    st.mean_image[:] = 0
    tf = PaperTrainTransform(crop=H, stats=st, flip=False)
    x = torch.full((2, 3, H, H), 100, dtype=torch.uint8)
    alphas = torch.tensor([[1.0, -2.0, 0.5], [0.0, 0.0, 3.0]])
    out = tf.apply(x, torch.zeros(2, 2, dtype=torch.long), torch.zeros(2, dtype=torch.bool), alphas)
    for b in range(2):
        expect = 255.0 * (st.eigvec @ (alphas[b].numpy() * st.eigval))
        np.testing.assert_allclose((out[b] - 100).reshape(3, -1).numpy(),
                                   np.repeat(expect[:, None], H * H, 1), atol=1e-3)
    no_light = PaperTrainTransform(crop=H, stats=st, lighting=False).sample(4, H, H, torch.Generator().manual_seed(1))
    assert torch.count_nonzero(no_light["alphas"]) == 0


def test_alpha_distribution():
    tf = PaperTrainTransform(crop=H, stats=stats(), alphastd=0.1)
    a = tf.sample(20000, H, H, torch.Generator().manual_seed(0))["alphas"]
    assert abs(float(a.std()) - 0.1) < 0.003 and abs(float(a.mean())) < 0.003


def test_mean_image_cropped_at_the_same_offset_and_flipped():
    st = stats()
    tf = PaperTrainTransform(crop=10, stats=st, lighting=False)
    out = tf.apply(torch.zeros(2, 3, H, H, dtype=torch.uint8), torch.tensor([[3, 7], [20, 1]]),
                   torch.tensor([False, True]), torch.zeros(2, 3))
    m = st.mean_image
    np.testing.assert_allclose(-out[0].numpy(), m[3:13, 7:17].transpose(2, 0, 1))
    np.testing.assert_allclose(-out[1].numpy(), m[20:30, 1:11][:, ::-1].transpose(2, 0, 1))


def test_same_generator_same_augmentation():
    tf, x = PaperTrainTransform(crop=20, stats=stats()), images()
    a = tf(x, torch.Generator().manual_seed(5))
    b = tf(x, torch.Generator().manual_seed(5))
    assert torch.equal(a, b) and not torch.equal(a, tf(x, torch.Generator().manual_seed(6)))


def test_ten_views_are_the_right_pixels():
    x = torch.arange(2 * 1 * 6 * 8).view(2, 1, 6, 8)
    v = ten_views(x, 4)
    assert v.shape == (10, 2, 1, 4, 4)
    assert torch.equal(v[0], x[:, :, 0:4, 0:4]) and torch.equal(v[1], x[:, :, 0:4, 4:8])
    assert torch.equal(v[2], x[:, :, 2:6, 0:4]) and torch.equal(v[3], x[:, :, 2:6, 4:8])
    assert torch.equal(v[4], x[:, :, 1:5, 2:6])
    for k in range(5):
        assert torch.equal(v[5 + k], v[k].flip(-1))


def test_eval_transform_subtracts_matching_mean_views():
    st, x = stats(), images(3)
    tf = PaperEvalTransform(crop=20, stats=st)
    mean = torch.from_numpy(st.mean_image).permute(2, 0, 1)
    torch.testing.assert_close(tf(x), x[:, :, 6:26, 6:26].float() - mean[:, 6:26, 6:26])
    views = tf.ten_views(x)
    torch.testing.assert_close(views, ten_views(x, 20).float() - ten_views(mean[None], 20))
    torch.testing.assert_close(views[4], tf(x))


def test_random_resized_crop():
    x = images(64)
    tf = RandomResizedCropTransform(crop=16)
    p = tf.sample(64, H, H, torch.Generator().manual_seed(0))
    boxes = p["boxes"]
    assert (boxes[:, 0] >= 0).all() and (boxes[:, 2] <= H).all() and (boxes[:, 1] >= 0).all() and (boxes[:, 3] <= H).all()
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]) / (H * H)
    assert area.min() >= 0.08 - 0.02 and area.max() <= 1.0
    out = tf(x, torch.Generator().manual_seed(0))
    assert out.shape == (64, 3, 16, 16) and out.dtype == torch.float32
    # the whole image resampled at its own size is the image itself, normalised
    full = RandomResizedCropTransform(crop=H).apply(x[:2], torch.tensor([[0.0, 0, H, H]] * 2), torch.tensor([False, True]))
    ref = (x[:2].float() / 255 - torch.tensor(tf.mean).view(1, 3, 1, 1)) / torch.tensor(tf.std).view(1, 3, 1, 1)
    ref[1] = ref[1].flip(-1)
    torch.testing.assert_close(full, ref, atol=1e-5, rtol=0)


def test_torchvision_eval():
    x = images(2)
    out = TorchvisionEvalTransform(resize=H, crop=20)(x)
    ref = (x[:, :, 6:26, 6:26].float() / 255 - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) \
        / torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    torch.testing.assert_close(out, ref)
    assert TorchvisionEvalTransform(resize=16, crop=8)(x).shape == (2, 3, 8, 8)


def test_spec_fallback():
    st = DatasetStats.fallback(8)
    np.testing.assert_allclose(st.eigval, [0.2175, 0.0188, 0.0045])
    np.testing.assert_allclose(st.eigvec[:, 0], [-0.5675, -0.5808, -0.5836])
    assert SPEC_IMAGENET_PCA["pixel_scale"] == 1.0 and st.mean_image.shape == (8, 8, 3)


def test_preprocess_pil_paper_matches_prepare():
    rng = np.random.default_rng(0)
    img = Image.fromarray(rng.integers(0, 256, (60, 80, 3), dtype=np.uint8))
    mean = torch.rand(3, 32, 32) * 255
    pre = {"resize": 32, "crop": 24, "channels": 3, "pixel_scale": 255.0, "mean": None, "std": None,
           "mean_image": True}
    sq = torch.from_numpy(np.asarray(to_square_rgb(_png(img), 32)[0]).copy()).permute(2, 0, 1)
    one = preprocess_pil([img, img], pre, mean)
    assert one.shape == (2, 3, 24, 24)
    torch.testing.assert_close(one[0], sq[:, 4:28, 4:28].float() - mean[:, 4:28, 4:28])
    ten = preprocess_pil([img], pre, mean, views=10)
    assert ten.shape == (10, 1, 3, 24, 24)
    torch.testing.assert_close(ten[:, 0], ten_views(sq[None], 24)[:, 0].float() - ten_views(mean[None], 24)[:, 0])
    tv = {"resize": 32, "crop": 24, "channels": 1, "pixel_scale": 1.0, "mean": [0.5], "std": [0.25],
          "mean_image": False}
    g = preprocess_pil([img], tv)
    assert g.shape == (1, 1, 24, 24) and -2.01 <= float(g.min()) and float(g.max()) <= 2.01
    with pytest.raises(ValueError):
        preprocess_pil([img], pre, mean, views=3)


def _png(img):
    import io
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()
