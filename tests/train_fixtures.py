"""Small data for the training tests (imported by tests/test_train_*.py and tests/test_demo.py).

Synthetic Fashion-MNIST-format idx files: 28×28 grey images whose class is a bright
horizontal band at a class-specific height, so a net can learn them in a few steps.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np


def _write_idx(path: Path, array: np.ndarray) -> None:
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + b"".join(struct.pack(">I", d) for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def band_images(n: int, num_classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % num_classes
    rng.shuffle(labels)
    images = rng.integers(0, 60, size=(n, 28, 28), dtype=np.int64)
    rows = 28 // num_classes
    for i, c in enumerate(labels):
        images[i, c * rows:(c + 1) * rows, :] += 180
    return np.clip(images, 0, 255).astype(np.uint8), labels.astype(np.uint8)


def write_fashion_idx(folder: Path, n_train: int = 64, n_test: int = 32, num_classes: int = 10) -> Path:
    """Write ``{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz`` into ``folder``; returns it."""
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, n, seed in (("train", n_train, 0), ("t10k", n_test, 1)):
        images, labels = band_images(n, num_classes, seed)
        _write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", images)
        _write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", labels)
    return folder


def tiny_config(data: Path, **overrides):
    """alexnet2012 at 64 px (its smallest input) on the synthetic data, SGD, flips, the CPU."""
    from alexnet.recipes import resolve_config
    base = {"data": str(data), "input_size": 64, "batch_size": 16, "epochs": 2, "log_interval": 2,
            "device": "cpu", "workers": 0, "optimizer": "sgd", "lr": 0.01, "augment": "flip"}
    return resolve_config("d2l", {**base, **overrides}, arch="alexnet2012")
