"""The batched training transforms: crops, flips, PCA lighting in each reading, mean image, torchvision style."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from alexnet.constants import SPEC_IMAGENET_PCA
from alexnet.data.augment import LIGHTING_SCALES, PaperTrainTransform, RandomResizedCropTransform, ViewTrainTransform
from alexnet.data.lighting import DatasetStats

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
    tf = PaperTrainTransform(crop=20, stats=st, lighting_scale="eigenvalue")
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
        # float32 ops in another order than the reference's: a few ulps of values up to 255 (ulp 1.5e-5)
        torch.testing.assert_close(out[b], ref, atol=1e-4, rtol=0)
    assert p["flips"].any() and not p["flips"].all()          # both cases were exercised
    assert len(set(map(tuple, p["offsets"].tolist()))) > 1


def _lighting_formula(st, alpha, scale):
    """The three readings of section 4.1's Σ α_i λ_i p_i, written out for one image (SPEC §2)."""
    lam = np.asarray(st.eigval)                      # eigenvalues of [0, 1] pixels
    p = np.asarray(st.eigvec)
    if scale == "eigenvalue":                        # fb.resnet.torch: 255·Σ α_i λ_i p_i
        return 255.0 * sum(alpha[i] * lam[i] * p[:, i] for i in range(3))
    std255 = 255.0 * np.sqrt(lam)                    # cuda-convnet2: α_i times the stddev in [0, 255]
    return sum(alpha[i] * std255[i] * p[:, i] for i in range(3))


@pytest.mark.parametrize("scale", LIGHTING_SCALES)
def test_each_lighting_scale_adds_its_formula(scale):
    st = stats()
    st.mean_image[:] = 0
    tf = PaperTrainTransform(crop=H, stats=st, flip=False, alphastd=0.1, lighting_scale=scale)
    x = torch.full((2, 3, H, H), 100, dtype=torch.uint8)
    alphas = torch.tensor([[1.0, -2.0, 0.5], [0.0, 0.0, 3.0]])
    out = tf.apply(x, torch.zeros(2, 2, dtype=torch.long), torch.zeros(2, dtype=torch.bool), alphas)
    # cuda-convnet2 multiplies the mean-subtracted, shifted training image by 1/(1+σ) (convdata.py)
    rescale = 1 / 1.1 if scale == "cuda-convnet2" else 1.0
    for b in range(2):
        expect = (100.0 + _lighting_formula(st, alphas[b].numpy(), scale)) * rescale
        # float32 against a float64 formula on values ~100 (ulp 7.6e-6); the shifts are 1-30 levels
        np.testing.assert_allclose(out[b].reshape(3, -1).numpy(), np.repeat(expect[:, None], H * H, 1), atol=1e-4)
    # the batched (GPU) path computes the same numbers as the per-image CPU path
    batched = tf._apply_batched(x, torch.zeros(2, 2, dtype=torch.long), torch.zeros(2, dtype=torch.bool), alphas)
    torch.testing.assert_close(batched, out, atol=1e-4, rtol=0)  # float32 op order differs: ~1e-5 on 100s


def test_lighting_scales_differ_as_the_spec_says():
    """With SPEC §2's ImageNet PCA (fb.resnet.torch's λ) at σ = 0.1, one standard deviation of α_i shifts
    pixels by ≈ 5.5 / 0.5 / 0.1 levels of 255 in the eigenvalue reading and ≈ 11.9 / 3.5 / 1.7 in
    cuda-convnet2's (its own ImageNet statistics give ≈ 12 / 3.7 / 2.0)."""
    st = DatasetStats(np.zeros((8, 8, 3), np.float32), np.array(SPEC_IMAGENET_PCA["eigval"]),
                      np.array(SPEC_IMAGENET_PCA["eigvec"]), 255.0)
    for scale, levels in (("eigenvalue", (5.55, 0.479, 0.115)), ("stddev", (11.9, 3.50, 1.71))):
        m = PaperTrainTransform(crop=8, stats=st, lighting_scale=scale).magnitudes() * 0.1
        np.testing.assert_allclose(m, levels, rtol=5e-3)   # the levels written to 3 digits: within 0.5 %


def test_lighting_off_draws_no_shift_and_no_rescale():
    st = stats()
    tf = PaperTrainTransform(crop=H, stats=st, lighting=False)
    assert torch.count_nonzero(tf.sample(4, H, H, torch.Generator().manual_seed(1))["alphas"]) == 0
    assert tf.rescale == 1.0       # cuda-convnet2 rescales only when it adds colour noise
    with pytest.raises(ValueError, match="lighting_scale"):
        PaperTrainTransform(crop=H, stats=st, lighting_scale="levels")


def test_alpha_distribution():
    tf = PaperTrainTransform(crop=H, stats=stats(), alphastd=0.1)
    a = tf.sample(20000, H, H, torch.Generator().manual_seed(0))["alphas"]
    assert abs(float(a.std()) - 0.1) < 0.003 and abs(float(a.mean())) < 0.003


def test_mean_image_cropped_at_the_same_offset_and_flipped():
    st = stats()
    tf = PaperTrainTransform(crop=10, stats=st, lighting=False)
    out = tf.apply(torch.zeros(2, 3, H, H, dtype=torch.uint8), torch.tensor([[3, 7], [20, 1]]),
                   torch.tensor([False, True]), torch.zeros(2, 3))
    m = st.mean_image   # 0 − mean in float32 is exact; assert_allclose's default rtol (1e-7) allows nothing more
    np.testing.assert_allclose(-out[0].numpy(), m[3:13, 7:17].transpose(2, 0, 1))
    np.testing.assert_allclose(-out[1].numpy(), m[20:30, 1:11][:, ::-1].transpose(2, 0, 1))


def test_same_generator_same_augmentation():
    tf, x = PaperTrainTransform(crop=20, stats=stats()), images()
    a = tf(x, torch.Generator().manual_seed(5))
    b = tf(x, torch.Generator().manual_seed(5))
    assert torch.equal(a, b) and not torch.equal(a, tf(x, torch.Generator().manual_seed(6)))


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
    torch.testing.assert_close(full, ref, atol=1e-5, rtol=0)  # resampling at scale 1: float32 rounding of values ~2


def test_pca_from_integer_sums_is_numpys_covariance_and_eigh():
    """prepare's exact integer sums → the RGB covariance and its eigenvectors, against numpy on the pixels."""
    from alexnet.data.lighting import pca_from_sums
    rng = np.random.default_rng(0)
    mix = np.array([[1.0, 0.6, 0.3], [0.0, 0.5, 0.2], [0.0, 0.0, 0.2]])
    pixels = np.clip(rng.normal(0, 40, (5000, 3)) @ mix + 120, 0, 255).round().astype(np.int64)
    pca = pca_from_sums(pixels.sum(0), pixels.T @ pixels, len(pixels))
    cov = np.cov(pixels.T, bias=True)
    np.testing.assert_allclose(pca["covariance_255"], cov, rtol=1e-9)   # float64 of sums ~1e8: ~1e-12 apart
    assert list(pca["eigval"]) == sorted(pca["eigval"], reverse=True)
    for i in range(3):   # each column is a unit eigenvector of the [0, 1] covariance with its eigenvalue
        v = pca["eigvec"][:, i]
        np.testing.assert_allclose(cov / 255 ** 2 @ v, pca["eigval"][i] * v, atol=1e-12)


def test_view_train_transform_flips_about_half_the_images_and_nothing_else():
    x = images(40).float()
    tf = ViewTrainTransform(lambda b: b[None], flip=True)
    out = tf(x, torch.Generator().manual_seed(0))
    flipped = [bool(torch.equal(out[i], x[i].flip(-1))) for i in range(40)]
    kept = [bool(torch.equal(out[i], x[i])) for i in range(40)]
    assert all(f != k for f, k in zip(flipped, kept)) and 10 < sum(flipped) < 30
    assert torch.equal(ViewTrainTransform(lambda b: b[None], flip=False)(x), x)
