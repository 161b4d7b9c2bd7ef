"""A validation split held out of the training images, so that no choice is made on the test set.

    train, validation = hold_out(opened.train, 5000, seed=0)      # 55,000 and 5,000 of Fashion-MNIST's 60,000

The held-out images are ``np.random.default_rng(seed).permutation(N)[:n]`` of the training split
(the same on every machine), kept in index order; the rest train. Both are
:class:`StoreSubset` views of the one prepared store: nothing is copied. A run with ``holdout`` N
(``--set holdout=5000``) validates on the held-out images after every epoch (what schedules,
early stops and profile choices read), and the store's own ``val`` split — for Fashion-MNIST its
10,000 test images — is the test set, evaluated once, at the end.

The mean image the paper's recipe subtracts is the prepared store's, taken over all of the
training split, held-out images included: a per-pixel mean that uses no label, and no test image.

In ``alexnet evaluate --split`` (and :func:`alexnet.data.open.open_split`) the held-out images
are the split ``holdout:N:SEED`` (``holdout:5000:0``).
"""

from __future__ import annotations

import os

import numpy as np

from .store import PreparedStore

PREFIX = "holdout"


class StoreSubset(PreparedStore):
    """The images ``indices`` of a prepared split, as a store of their own (image i of the subset
    is image ``indices[i]`` of ``parent``)."""

    def __init__(self, parent: PreparedStore, indices: np.ndarray, split: str):
        self.__dict__.update(parent.__getstate__())           # (no shared file descriptors)
        self._fds, self._pid = {}, os.getpid()
        self.indices = np.asarray(indices, dtype=np.int64)
        self.parent_split = parent.split
        self.shards, self.offsets, self.lengths, self.labels = (
            np.asarray(a)[self.indices] for a in (parent.shards, parent.offsets, parent.lengths, parent.labels))
        self.split = split

    def sources(self) -> list[str]:
        every = super().sources()
        return [every[i] for i in self.indices]

    def __repr__(self) -> str:
        return f"StoreSubset({str(self.root)!r}, {self.split!r}: {len(self)} of split {self.parent_split!r})"


def held_out_indices(total: int, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(training, held_out)`` indices, each sorted (see the module docstring)."""
    if not 0 < n < total:
        raise ValueError(f"holdout={n}: hold out between 1 and {total - 1} of the {total} training images")
    order = np.random.default_rng(int(seed)).permutation(total)
    return np.sort(order[n:]), np.sort(order[:n])


def hold_out(train: PreparedStore, n: int, seed: int = 0) -> tuple[StoreSubset, StoreSubset]:
    """The training split without ``n`` held-out images, and those images (the validation split)."""
    rest, held = held_out_indices(len(train), n, seed)
    return (StoreSubset(train, rest, f"{train.split} minus {PREFIX}:{n}:{seed}"),
            StoreSubset(train, held, split_name(n, seed)))


def split_name(n: int, seed: int) -> str:
    return f"{PREFIX}:{n}:{seed}"


def parse_split_name(split: str) -> tuple[int, int] | None:
    """``(n, seed)`` of a ``holdout:N:SEED`` split name; None for any other name."""
    if not split.startswith(PREFIX + ":"):
        return None
    parts = split.split(":")
    if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
        raise ValueError(f"split {split!r}: a held-out split is named holdout:N:SEED (e.g. holdout:5000:0)")
    return int(parts[1]), int(parts[2])
