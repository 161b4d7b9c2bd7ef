"""The ImageNet data pipeline of the paper: prepare once, then read fast.

- :mod:`alexnet.data.prepare` (``alexnet prepare SRC OUT``) turns image data as people have it
  (ImageFolder trees, ILSVRC-2012 archives and devkit, Kaggle's CSV, Fashion-MNIST idx files)
  into a prepared store of 256×256 JPEGs with the training set's mean image and RGB PCA;
- :class:`alexnet.data.store.PreparedStore` reads that store (random access, many processes);
- :class:`alexnet.data.loader.StoreLoader` batches it with exact, rank-sharded shuffling;
- :mod:`alexnet.data.augment` holds the paper's batched train/test transforms and
  torchvision-style alternatives.

This package's ``__init__`` imports nothing heavy: ``prepare`` runs without importing torch.
"""

from .store import DatasetStats, PreparedStore

__all__ = ["DatasetStats", "PreparedStore"]
