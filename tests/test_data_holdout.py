"""The validation split held out of the training images (alexnet.data.holdout)."""

from __future__ import annotations

import numpy as np
import pytest

from alexnet.data.holdout import held_out_indices, hold_out, parse_split_name
from alexnet.data.open import open_data, open_split
from train_fixtures import write_fashion_idx


def test_held_out_images_are_fixed_by_the_seed_and_disjoint_from_training():
    rest, held = held_out_indices(60000, 5000, seed=0)
    assert len(held) == 5000 and len(rest) == 55000
    assert np.intersect1d(rest, held).size == 0 and np.union1d(rest, held).size == 60000
    again, held_again = held_out_indices(60000, 5000, seed=0)
    assert np.array_equal(held, held_again) and np.array_equal(rest, again)      # the same on every call
    assert not np.array_equal(held, held_out_indices(60000, 5000, seed=1)[1])
    assert held[:3].tolist() == np.sort(np.random.default_rng(0).permutation(60000)[:5000])[:3].tolist()
    for bad in (0, 60000):
        with pytest.raises(ValueError, match="hold out between 1 and 59999"):
            held_out_indices(60000, bad, 0)


def test_a_held_out_split_reads_the_training_images_it_names(tmp_path, monkeypatch):
    monkeypatch.setenv("ALEXNET_CACHE", str(tmp_path / "cache"))
    fm = write_fashion_idx(tmp_path / "fm", n_train=40, n_test=8)
    train = open_data(str(fm)).train
    rest, held = hold_out(train, 10, seed=3)
    assert (len(rest), len(held)) == (30, 10)
    for sub in (rest, held):
        for i in (0, len(sub) - 1):
            j = int(sub.indices[i])
            assert sub.read_encoded(i) == train.read_encoded(j) and sub.labels[i] == train.labels[j]
        assert sub.sources() == [train.sources()[int(j)] for j in sub.indices]
    assert sub.stats().mean_image.shape == train.stats().mean_image.shape      # the store's mean image
    by_name = open_split(str(fm), "holdout:10:3")
    assert np.array_equal(by_name.indices, held.indices)
    assert parse_split_name("val") is None and parse_split_name("holdout:5000:0") == (5000, 0)
    with pytest.raises(ValueError, match="holdout:N:SEED"):
        parse_split_name("holdout:many")
