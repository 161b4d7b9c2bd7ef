"""The on-disk layout of a prepared store (``alexnet-prepared/1``): names and small readers.

::

    OUT/
      classes.json            {"format", "wnids": [...], "names": [...]}  (class i = wnids[i])
      summary.json            what prepare did, per split (images, classes, skipped, stats)
      prepare.log.jsonl       one JSON event per line (start, chunk done, finish)
      stats/mean_image.npy    float32 (H, W, C), pixels in [0, 255]: the train split's mean image
      stats/pca.json          RGB covariance and its eigen-decomposition (see DatasetStats)
      <split>/                "train" or "val"
        shard-00000.bin       concatenated encoded images of chunk 0 (JPEG, or raw uint8 records)
        shard-00000.npz       chunk 0's index: offsets, lengths, labels, sources, skipped files,
                              and exact integer partial sums for the mean image and covariance
        ...                   one shard pair per chunk of ``chunk_size`` input files
        index.npz             the split's index: shard, offset, length, label (one row per image)
        sources.txt           the source of image i on line i
        skipped.jsonl         every input file not written, with its reason
        meta.json             written last: the split is complete

A chunk is finished when its ``.npz`` exists (both files are written atomically, ``.bin``
first), so an interrupted prepare resumes at the first missing chunk.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

STORE_FORMAT = "alexnet-prepared/1"
SPLITS = ("train", "val")


def shard_bin(split_dir: Path, chunk: int) -> Path:
    return split_dir / f"shard-{chunk:05d}.bin"


def shard_index(split_dir: Path, chunk: int) -> Path:
    return split_dir / f"shard-{chunk:05d}.npz"


def json_to_array(obj) -> np.ndarray:
    """JSON inside an ``.npz`` as uint8 bytes, so that reading never needs ``allow_pickle``."""
    return np.frombuffer(json.dumps(obj).encode("utf-8"), dtype=np.uint8)


def array_to_json(arr: np.ndarray):
    return json.loads(arr.tobytes().decode("utf-8"))


def read_json(path: Path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)
