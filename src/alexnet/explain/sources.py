"""The images ``alexnet explain`` looks at: files and folders, or a prepared store's split, read
through a trained net's own preprocessing (:class:`alexnet.use.Predictor`).

    images = open_image_set(predictor, ["tests/photos"])            # files, folders (walked recursively)
    images = open_image_set(predictor, ["data/store"], split="val", limit=2000)   # or "fashion-mnist"
    x = images.net_input([0, 1])        # what the net sees (preprocessed float)
    pixels = images.display([0, 1])     # the same crop in [0, 1], for drawing
    for x in images.batches(64): ...

Files are opened (and their failures collected in ``failures``) once up front, so image indices
are stable; a store is opened with :func:`alexnet.data.open.open_split` (it must be stored at the
size the weights expect).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable, Iterator, Sequence

import torch

from ..data.open import FASHION_MNIST, looks_like_fashion_mnist, open_split
from ..data.views import make_view_fn
from ..progress import Progress
from ..use.images import ImageReadError, find_images, open_image
from ..use.predict import Predictor


class ImageSet:
    """``names`` and a loader of stored-like uint8 images (B, C, S, S) by index."""

    def __init__(self, predictor: Predictor, names: Sequence[str], load: Callable[[list[int]], torch.Tensor],
                 description: str, failures: Sequence[tuple[str, str]] = ()):
        self.predictor, self.names, self._load = predictor, list(names), load
        self.description, self.failures = description, list(failures)
        plain = dataclasses.replace(predictor.pre, pixel_scale=255.0, mean=None, std=None, mean_image=False)
        self._display = make_view_fn(plain, None, views=1)
        self._view = make_view_fn(predictor.pre, predictor.mean_image, views=1)

    def __len__(self) -> int:
        return len(self.names)

    def net_input(self, indices: Sequence[int]) -> torch.Tensor:
        """The preprocessed float batch the net takes (centre view)."""
        return self._view(self._load(list(indices)))[0]

    def display(self, indices: Sequence[int]) -> torch.Tensor:
        """The same crop as :meth:`net_input`, as pixels in [0, 1] (B, C, crop, crop)."""
        return (self._display(self._load(list(indices)))[0] / 255.0).clamp(0, 1)

    def batches(self, batch_size: int = 64, progress: bool | None = None, desc: str = "images") -> Iterator[torch.Tensor]:
        with Progress(total=len(self), desc=desc, unit="img", show=progress) as bar:
            for start in range(0, len(self), batch_size):
                idx = list(range(start, min(start + batch_size, len(self))))
                yield self.net_input(idx).to(self.predictor.device)
                bar.update(len(idx))


def _is_store(text: str) -> bool:
    path = Path(text)
    return text == FASHION_MNIST or (path / "classes.json").is_file() or looks_like_fashion_mnist(path)


def open_image_set(predictor: Predictor, inputs: Sequence[str], *, split: str = "val",
                   limit: int | None = None) -> ImageSet:
    """Image files/folders, or one prepared store (or ``fashion-mnist``) and its ``split``;
    at most ``limit`` images (the first ones, in order). Raises ValueError when none can be read."""
    inputs = [str(i) for i in inputs]
    if len(inputs) == 1 and _is_store(inputs[0]):
        store = open_split(inputs[0], split)
        n = len(store) if limit is None else min(limit, len(store))

        def load(indices: list[int]) -> torch.Tensor:
            return torch.stack([torch.from_numpy(store.decode(i).copy()).permute(2, 0, 1) for i in indices])

        try:
            sources = store.sources()[:n]
        except OSError:
            sources = [f"{store.root}/{split}#{i}" for i in range(n)]
        return ImageSet(predictor, sources, load, f"{n} {split} images of {store.root.name}")
    paths = find_images(inputs)
    if limit is not None:
        paths = paths[:limit]
    good, failures = [], []
    for path in paths:                     # one at a time: a folder of photos never sits in memory whole
        try:
            open_image(path, predictor.channels)
            good.append(str(path))
        except ImageReadError as e:
            failures.append((str(path), e.reason))
    if not good:
        if len(failures) == 1:
            raise ImageReadError(*failures[0])
        reasons = "; ".join(f"{p}: {r}" for p, r in failures[:3])
        raise ValueError(f"none of the {len(paths)} images could be read ({reasons})")

    def load(indices: list[int]) -> torch.Tensor:
        return predictor.stored([good[i] for i in indices])

    return ImageSet(predictor, good, load, f"{len(good)} image files", failures)
