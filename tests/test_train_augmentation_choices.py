"""What the augmentation keys do: random crops of small images resized first (``resize``), and
centre-crop training (``crops_flips=false``, the augmentation experiment's "none")."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from alexnet.recipes import resolve_config
from alexnet.data.augment import PaperTrainTransform, ViewTrainTransform
from alexnet.data.lighting import DatasetStats
from alexnet.data.views import make_view_fn
from alexnet.train.data import build_data
from train_fixtures import write_fashion_idx


def test_view_crops_are_windows_of_the_whole_view_at_every_offset_and_flipped_about_half():
    whole = torch.arange(6 * 1 * 9 * 9, dtype=torch.float32).view(6, 1, 9, 9)
    tf = ViewTrainTransform(lambda b: b[None].float(), flip=True, crop=7)
    seen_offsets, flips = set(), 0
    for seed in range(30):
        out = tf(whole, torch.Generator().manual_seed(seed))
        assert out.shape == (6, 1, 7, 7)
        for b in range(6):
            matches = [(y, x, f) for y in range(3) for x in range(3) for f in (False, True)
                       if torch.equal(out[b], (lambda w: w.flip(-1) if f else w)(whole[b, :, y:y + 7, x:x + 7]))]
            assert len(matches) == 1          # exactly one window (and mirror) of its own image
            seen_offsets.add(matches[0][:2])
            flips += matches[0][2]
    assert seen_offsets == {(y, x) for y in range(3) for x in range(3)}   # every one of the 9 offsets
    assert 0.35 < flips / 180 < 0.65
    centre = ViewTrainTransform(lambda b: b[None].float(), flip=False, crop=7, random_crop=False)(whole)
    assert torch.equal(centre, whole[:, :, 1:8, 1:8])


def test_paper_transform_without_crops_and_flips_is_the_centre_crop_minus_the_mean():
    g = torch.Generator().manual_seed(0)
    st = DatasetStats(mean_image=torch.rand(12, 12, 3, generator=g).numpy() * 255,
                      eigval=np.array([0.2, 0.02, 0.004]), eigvec=np.eye(3), pixel_scale=255.0)
    images = torch.randint(0, 256, (4, 3, 12, 12), generator=g, dtype=torch.uint8)
    tf = PaperTrainTransform(crop=8, stats=st, flip=False, random_crop=False, lighting=False)
    out = tf(images, torch.Generator().manual_seed(1))
    mean = torch.as_tensor(st.mean_image).permute(2, 0, 1)
    assert torch.equal(out, images[:, :, 2:10, 2:10].float() - mean[:, 2:10, 2:10])
    assert torch.equal(out, tf(images, torch.Generator().manual_seed(2)))   # nothing random left


@pytest.fixture
def fm(tmp_path, monkeypatch):
    monkeypatch.setenv("ALEXNET_CACHE", str(tmp_path / "cache"))
    return write_fashion_idx(tmp_path / "fm", n_train=32, n_test=16)


def test_small_images_resized_to_73_give_random_64_crops_and_a_centre_crop_view(fm):
    cfg = resolve_config("paper", {"data": str(fm), "input_size": 64, "resize": 73, "batch_size": 8,
                                   "workers": 0, "device": "cpu"})
    data = build_data(cfg)
    pre = data.preprocessing
    assert (pre.stored_size, pre.resize, pre.crop, pre.mean_image) == (28, 73, 64, True)
    images, _ = next(iter(data.train_loader))
    whole = make_view_fn(dataclasses.replace(pre, crop=73), data.mean_image)(images)[0]   # (8, 1, 73, 73)
    x = data.train_transform(images, generator=torch.Generator().manual_seed(0))
    assert x.shape == (8, 1, 64, 64)
    for b in range(8):
        assert any(torch.equal(x[b], w) for y in range(10) for xx in range(10)
                   for w in (whole[b, :, y:y + 64, xx:xx + 64], whole[b, :, y:y + 64, xx:xx + 64].flip(-1)))
    # the evaluation view is the centre window of the same resized image
    assert torch.equal(data.view_fn(images)[0], whole[:, :, 4:68, 4:68])
    assert "random 64 crops + flips" in data.description


def test_whole_image_training_is_unchanged_by_default(fm):
    cfg = resolve_config("paper", {"data": str(fm), "input_size": 64, "batch_size": 8, "workers": 0,
                                   "device": "cpu"})
    data = build_data(cfg)
    assert (data.preprocessing.resize, data.preprocessing.crop) == (64, 64)
    images, _ = next(iter(data.train_loader))
    x = data.train_transform(images, generator=torch.Generator().manual_seed(0))
    view = data.view_fn(images)[0]
    assert all(torch.equal(x[b], view[b]) or torch.equal(x[b], view[b].flip(-1)) for b in range(8))


def test_bad_combinations_are_clear_errors(fm):
    with pytest.raises(ValueError, match="smaller than the input_size=64 crop"):
        build_data(resolve_config("paper", {"data": str(fm), "input_size": 64, "resize": 60, "workers": 0}))
    with pytest.raises(ValueError, match="crops_flips=false"):
        build_data(resolve_config("d2l", {"data": str(fm), "input_size": 64, "crops_flips": False, "workers": 0}))
