"""PreparedStore and StoreLoader: reading, exact shuffling, rank sharding, resume, decode paths."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import data_fixtures as fx
from alexnet.data.loader import StoreLoader
from alexnet.data.prepare import prepare
from alexnet.data.sources.fashion_mnist import find_fashion_mnist, read_idx
from alexnet.data.store import PreparedStore


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return fx.small_store(tmp_path_factory.mktemp("loader"))


def test_store_basics(store):
    assert len(store) == 21 and store.num_classes == 3 and store.image_size == 64 and store.channels == 3
    assert store.labels.dtype == np.int64 and sorted(np.bincount(store.labels).tolist()) == [7, 7, 7]
    assert store.read_encoded(0)[:2] == b"\xff\xd8"
    assert store.decode(5).shape == (64, 64, 3)


def test_missing_or_incomplete_store_errors(tmp_path, store):
    with pytest.raises(FileNotFoundError, match="alexnet prepare"):
        PreparedStore(tmp_path / "nothing")
    (tmp_path / "half" / "train").mkdir(parents=True)
    with pytest.raises(ValueError, match="incomplete"):
        PreparedStore(tmp_path / "half", "train")


def test_epoch_order_is_exact_and_reproducible(store):
    a = StoreLoader(store, 4, seed=3)
    np.testing.assert_array_equal(a.epoch_indices(2), np.random.default_rng((3, 2)).permutation(21))
    np.testing.assert_array_equal(a.epoch_indices(2), StoreLoader(store, 4, seed=3).epoch_indices(2))
    assert not np.array_equal(a.epoch_indices(2), a.epoch_indices(3))
    np.testing.assert_array_equal(StoreLoader(store, 4, shuffle=False).epoch_indices(5), np.arange(21))


@pytest.mark.parametrize("world", [1, 2, 4, 5])
def test_rank_sharding_covers_every_image(store, world):
    n = len(store)
    parts = [StoreLoader(store, 4, seed=1, rank=r, world_size=world).epoch_indices(7) for r in range(world)]
    assert len({len(p) for p in parts}) == 1
    allidx = np.concatenate(parts)
    assert set(allidx.tolist()) == set(range(n))
    assert len(allidx) - n == (-n) % world                    # only the documented padding repeats
    dropped = [StoreLoader(store, 4, seed=1, rank=r, world_size=world, drop_last=True).epoch_indices(7)
               for r in range(world)]
    flat = np.concatenate(dropped)
    assert len(flat) == len(set(flat.tolist())) == n - n % world


def test_batches_hold_the_right_pixels_and_labels(store):
    loader = StoreLoader(store, 4, seed=0, workers=2, decoder="pil")
    loader.set_epoch(1)
    order = loader.epoch_indices(1)
    seen = 0
    for images, labels in loader:
        assert images.dtype == torch.uint8 and images.shape[1:] == (3, 64, 64) and labels.dtype == torch.int64
        for j in range(len(labels)):
            i = order[seen + j]
            np.testing.assert_array_equal(images[j].permute(1, 2, 0).numpy(), store.decode(i))
            assert labels[j] == store.labels[i]
        seen += len(labels)
    assert seen == 21 and len(loader) == 6


def test_start_batch_resumes_mid_epoch(store):
    loader = StoreLoader(store, 4, seed=0, workers=0, drop_last=True)
    loader.set_epoch(2)
    full = [lab.clone() for _, lab in loader]
    assert len(full) == len(loader) == 5
    loader.set_epoch(2, start_batch=3)
    tail = [lab for _, lab in loader]
    assert len(tail) == 2 and all(torch.equal(x, y) for x, y in zip(tail, full[3:]))
    assert len(list(loader)) == 5                               # start_batch applies once


def test_in_memory_matches_streaming(store):
    a = StoreLoader(store, 8, seed=4, in_memory=True, decoder="pil")
    b = StoreLoader(store, 8, seed=4, decoder="pil", workers=1)
    for (xa, ya), (xb, yb) in zip(a, b):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)


def test_simplejpeg_decoder_close_to_pil(store):
    pytest.importorskip("simplejpeg")
    for i in range(3):
        d = np.abs(store.decode(i, "simplejpeg").astype(int) - store.decode(i, "pil").astype(int))
        assert d.max() <= 2


def test_cpu_path_without_cuda(store, monkeypatch):
    import torchvision.io

    def no_gpu(*a, **k):
        raise AssertionError("the GPU decoder must not be used on the CPU path")

    monkeypatch.setattr(torchvision.io, "decode_jpeg", no_gpu)
    loader = StoreLoader(store, 5, device="cpu")
    assert loader.decode_device == "cpu"
    assert sum(len(y) for _, y in loader) == 21
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            StoreLoader(store, 5, device="cuda")


def test_fashion_mnist_idx(tmp_path):
    for gz in (True, False):
        folder, data = fx.fashion_mnist_dir(tmp_path / f"fm{gz}", gz=gz)
        assert find_fashion_mnist(folder) == folder
        out = tmp_path / f"out{gz}"
        prepare(folder, out, workers=1, chunk_size=7, progress=False)
        for split, (images, labels) in data.items():
            s = PreparedStore(out, split)
            assert s.image_size == 28 and s.channels == 1 and s.encoding == "raw"
            assert s.class_names[0] == "T-shirt/top" and s.class_names[9] == "Ankle boot"
            np.testing.assert_array_equal(s.labels, labels)
            got = np.stack([s.decode(i)[..., 0] for i in range(len(s))])
            np.testing.assert_array_equal(got, images)                    # lossless
        st = PreparedStore(out, "train").stats()
        # the mean image is stored as float32 (ulp ≤ 1.5e-5 at 255); the variance is float64 either way
        np.testing.assert_allclose(st.mean_image[..., 0], data["train"][0].mean(0), atol=1e-4)
        np.testing.assert_allclose(st.eigval[0], (data["train"][0] / 255.0).var(), rtol=1e-9)
        loader = StoreLoader(PreparedStore(out, "train"), 8, in_memory=True)
        x, y = next(iter(loader))
        assert x.shape == (8, 1, 28, 28)
    bad = tmp_path / "bad-idx"
    bad.write_bytes(b"\x00\x00\x08\x03\x00\x00\x00\x05")
    with pytest.raises(ValueError, match="truncated"):
        read_idx(bad)


def test_find_fashion_mnist_error_lists_places(tmp_path, monkeypatch):
    monkeypatch.delenv("FASHION_MNIST_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    import alexnet.data.sources.fashion_mnist as fm
    monkeypatch.setattr(fm, "_candidates", lambda p: [tmp_path / "x", tmp_path / "y"])
    places = f"looked in {tmp_path / 'x'}, {tmp_path / 'y'}; .*--dataset fashion-mnist"
    with pytest.raises(FileNotFoundError, match=places):
        find_fashion_mnist(tmp_path / "x")      # a path given: searched, never downloaded into
