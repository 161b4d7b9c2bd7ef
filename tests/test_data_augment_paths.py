"""The fast paths of the paper's train transform agree exactly with each other and the reference.

PaperTrainTransform.apply has a CPU variant (per-image numpy slices) and a batched variant
(advanced indexing, used on CUDA); crop_batch has slice and indexing variants. Both variants of
each are run here on the CPU, so the GPU code path is checked on machines without a GPU.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from alexnet.data.augment import PaperTrainTransform, _crop_indexed, _crop_slices, crop_batch
from alexnet.data.lighting import DatasetStats

H = 40


def stats(c=3, seed=0):
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(c, c)))
    return DatasetStats(mean_image=rng.uniform(0, 255, (H, H, c)).astype(np.float32),
                        eigval=np.linspace(0.2, 0.01, c), eigvec=q, pixel_scale=255.0)


def reference_crop(images, offsets, crop, flips):
    out = []
    for b in range(len(offsets)):
        y, x = offsets[b].tolist()
        v = images[0 if images.shape[0] == 1 else b, :, y:y + crop, x:x + crop]
        out.append(v.flip(-1) if flips is not None and flips[b] else v)
    return torch.stack(out)


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
@pytest.mark.parametrize("broadcast", [False, True])
def test_crop_variants_equal_reference(dtype, broadcast):
    g = torch.Generator().manual_seed(0)
    b = 9
    images = torch.randint(0, 256, (1 if broadcast else b, 3, H, H + 3), generator=g).to(dtype)
    offsets = torch.stack([torch.randint(0, H - 24 + 1, (b,), generator=g),
                           torch.randint(0, H + 3 - 24 + 1, (b,), generator=g)], 1)
    offsets[0] = torch.tensor([0, 0])
    offsets[1] = torch.tensor([H - 24, H + 3 - 24])                 # the far corner
    flips = torch.rand(b, generator=g) < 0.5
    flips[0], flips[1] = True, True
    for f in (flips, None):
        ref = reference_crop(images, offsets, 24, f)
        for fn in (_crop_slices, _crop_indexed, crop_batch):
            out = fn(images, offsets, 24, f)
            assert out.dtype == dtype and torch.equal(out, ref), fn.__name__


def test_crop_out_of_bounds_is_an_error():
    images = torch.zeros(2, 3, H, H, dtype=torch.uint8)
    for bad in ([[0, 0], [H - 23, 0]], [[0, H - 23], [0, 0]], [[-1, 0], [0, 0]]):
        with pytest.raises(ValueError):
            crop_batch(images, torch.tensor(bad), 24)
        with pytest.raises(ValueError):
            PaperTrainTransform(crop=24, stats=stats()).apply(images, torch.tensor(bad),
                                                             torch.zeros(2, dtype=torch.bool), torch.zeros(2, 3))


@pytest.mark.parametrize("channels", [3, 1])
def test_cpu_and_batched_apply_are_identical(channels):
    st = stats(channels)
    tf = PaperTrainTransform(crop=28, stats=st)
    g = torch.Generator().manual_seed(3)
    x = torch.randint(0, 256, (16, channels, H, H), dtype=torch.uint8, generator=g)
    p = tf.sample(16, H, H, g)
    assert p["flips"].any() and not p["flips"].all()
    fast, batched = tf._apply_cpu(x, **p), tf._apply_batched(x, **p)
    assert fast.dtype == batched.dtype == torch.float32 and fast.is_contiguous()
    assert torch.equal(fast, batched)
    assert torch.equal(tf.apply(x, **p), fast)
    # the original formulation, on whole tensors: float(crop) - crop(mean) + shift
    mean = torch.from_numpy(st.mean_image).permute(2, 0, 1)[None]
    ref = reference_crop(x, p["offsets"], 28, p["flips"]).float() - reference_crop(mean, p["offsets"], 28, p["flips"])
    ref = (ref + tf.lighting_shift(p["alphas"])[:, :, None, None]) * tf.rescale   # cuda-convnet2: 1/(1+σ)
    assert torch.equal(fast, ref)
    # a non-contiguous batch (a strided view) gives the same
    wide = torch.zeros(16, channels, H, 2 * H, dtype=torch.uint8)
    wide[..., ::2] = x
    assert torch.equal(tf.apply(wide[..., ::2], **p), fast)


def test_empty_batch():
    tf = PaperTrainTransform(crop=24, stats=stats())
    x = torch.zeros(0, 3, H, H, dtype=torch.uint8)
    p = tf.sample(0, H, H, torch.Generator().manual_seed(0))
    assert tf.apply(x, **p).shape == (0, 3, 24, 24)
    assert crop_batch(x, p["offsets"], 24, p["flips"]).shape == (0, 3, 24, 24)


@pytest.mark.cuda
def test_cuda_matches_cpu():
    tf = PaperTrainTransform(crop=28, stats=stats())
    g = torch.Generator().manual_seed(4)
    x = torch.randint(0, 256, (16, 3, H, H), dtype=torch.uint8, generator=g)
    p = tf.sample(16, H, H, g)
    # GPU and CPU float32 kernels (fused multiply-adds on the GPU): a few ulps of values up to 255 (ulp 1.5e-5)
    torch.testing.assert_close(tf.apply(x.cuda(), **p).cpu(), tf.apply(x, **p), atol=1e-4, rtol=0)
