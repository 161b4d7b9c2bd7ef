"""StoreLoader's simplejpeg path (decoding into a reused buffer) gives store.decode's pixels."""

from __future__ import annotations

import numpy as np
import pytest

import data_fixtures as fx
from alexnet.data.loader import StoreLoader
from alexnet.data.prepare import prepare
from alexnet.data.store import PreparedStore


@pytest.mark.parametrize("workers", [0, 2])
def test_simplejpeg_batches_equal_store_decode(tmp_path, workers):
    pytest.importorskip("simplejpeg")
    for k in range(2):
        fx.write_folder(tmp_path / "src" / f"class{k}",
                        {f"{i}.JPEG": (fx.jpeg_bytes(fx.picture(50, 40, 10 * k + i)), None) for i in range(5)})
    prepare(tmp_path / "src", tmp_path / "out", workers=1, chunk_size=4, progress=False, size=32)
    store = PreparedStore(tmp_path / "out", "train")
    loader = StoreLoader(store, 3, seed=1, workers=workers, decoder="simplejpeg")
    order, seen = loader.epoch_indices(0), 0
    for images, labels in loader:
        for j in range(len(labels)):
            expect = store.decode(order[seen + j], "simplejpeg")
            np.testing.assert_array_equal(images[j].permute(1, 2, 0).numpy(), expect)
        seen += len(labels)
    assert seen == 10
