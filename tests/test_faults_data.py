"""Faults and odd input in the data pipeline (docs/FAULTS.md): 16-bit images, symlink loops,
a changed ImageFolder behind its automatic cache, empty class folders."""

import io
import json
import os

import numpy as np
import pytest
from PIL import Image

from alexnet.data.prepare import prepare
from alexnet.data.store import PreparedStore
from data_fixtures import jpeg_bytes, picture


def grey_ramp() -> np.ndarray:
    y, x = np.mgrid[0:64, 0:64]
    return ((x + y) * 2).astype(np.uint8)          # 0 .. 252, mean 126


def test_16_bit_grey_png_is_stored_like_its_8_bit_copy(tmp_path):
    eight = grey_ramp()
    (tmp_path / "src" / "a").mkdir(parents=True)
    (tmp_path / "src" / "b").mkdir(parents=True)
    Image.fromarray(eight).save(tmp_path / "src" / "a" / "eight.png")
    sixteen = Image.fromarray(eight.astype(np.uint16) * 257)      # the same picture in 16 bits
    assert sixteen.mode.startswith("I;16")
    sixteen.save(tmp_path / "src" / "b" / "sixteen.png")
    prepare(tmp_path / "src", tmp_path / "out", split="train", size=64, workers=1, progress=False)
    store = PreparedStore(tmp_path / "out", "train")
    means = sorted(float(store.decode(i).mean()) for i in range(len(store)))
    # the same grey ramp; the stored JPEG differs from the source by a few levels at most
    assert means[0] == pytest.approx(means[1], abs=2) and means[0] == pytest.approx(eight.mean(), abs=3)
