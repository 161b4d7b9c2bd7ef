"""alexnet.data.synthetic: photograph-like JPEGs (the benchmarks' data) and Fashion-MNIST-format idx
files (the training tests' data), deterministic and reused."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
from PIL import Image

from alexnet.data.synthetic import IMAGE_SIZES, write_fashion_idx, write_synthetic_jpegs


def test_synthetic_jpegs_are_deterministic_photograph_like_and_reused(tmp_path):
    m = write_synthetic_jpegs(tmp_path / "a", num_images=6, num_classes=3, workers=1, show=False)
    files = sorted((tmp_path / "a").rglob("*.JPEG"))
    assert len(files) == 6 and m["num_images"] == 6
    assert sorted(p.parent.name for p in files) == ["n00000000"] * 2 + ["n00000001"] * 2 + ["n00000002"] * 2
    assert m["bytes"] == sum(p.stat().st_size for p in files)
    for p in files:
        with Image.open(p) as img:
            assert img.format == "JPEG" and img.mode == "RGB" and img.size in IMAGE_SIZES
            x = np.asarray(img, dtype=np.float64).mean(axis=2)
        # structure, not noise: neighbouring pixels are strongly correlated (noise: r ≈ 0)
        assert np.corrcoef(x[:, :-1].ravel(), x[:, 1:].ravel())[0, 1] > 0.8, p
        assert x.std() > 10  # and not flat either
    # same seed → same bytes; reuse leaves the files alone; another seed rewrites them
    write_synthetic_jpegs(tmp_path / "b", num_images=6, num_classes=3, workers=1, show=False)
    assert [p.read_bytes() for p in files] == [p.read_bytes() for p in sorted((tmp_path / "b").rglob("*.JPEG"))]
    mtimes = [p.stat().st_mtime_ns for p in files]
    assert write_synthetic_jpegs(tmp_path / "a", num_images=6, num_classes=3, workers=1, show=False) == m
    assert [p.stat().st_mtime_ns for p in files] == mtimes
    m2 = write_synthetic_jpegs(tmp_path / "a", num_images=6, num_classes=3, seed=5, workers=1, show=False)
    assert m2["seed"] == 5 and files[0].read_bytes() != (tmp_path / "b" / files[0].relative_to(tmp_path / "a")
                                                         ).read_bytes()


def test_synthetic_jpegs_reject_empty_requests(tmp_path):
    with pytest.raises(ValueError, match="at least one image"):
        write_synthetic_jpegs(tmp_path, num_images=0)


def test_fashion_idx_files_hold_band_images_of_their_class(tmp_path):
    folder = write_fashion_idx(tmp_path / "fm", n_train=20, n_test=10, num_classes=10)
    with gzip.open(folder / "train-images-idx3-ubyte.gz") as f:
        raw = f.read()
    assert raw[:4] == b"\x00\x00\x08\x03" and int.from_bytes(raw[4:8], "big") == 20
    images = np.frombuffer(raw[16:], dtype=np.uint8).reshape(20, 28, 28)
    with gzip.open(folder / "train-labels-idx1-ubyte.gz") as f:
        labels = np.frombuffer(f.read()[8:], dtype=np.uint8)
    assert sorted(labels.tolist()) == sorted(list(range(10)) * 2)
    for image, label in zip(images, labels):      # the bright band (noise + 180) sits at the class's rows
        assert image.mean(axis=1).argmax() // 2 == label
