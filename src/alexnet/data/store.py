"""Read a prepared store (the output of ``alexnet prepare``): random access from many processes.

Usage::

    store = PreparedStore("/data/imagenet-prepared", split="train")
    len(store), store.num_classes, store.class_names[store.labels[0]]
    img = store.decode(0)            # uint8 (256, 256, 3), RGB
    stats = store.stats()            # mean image and RGB PCA of the train split, or None

Reads use ``os.pread`` on file descriptors opened lazily per process, so a store can be shared
with forked workers, DDP ranks and threads without locks or seeks.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .format import STORE_FORMAT, SPLITS, read_json, shard_bin
from .lighting import DatasetStats

def load_stats(root: str | os.PathLike) -> DatasetStats | None:
    """Read ``root/stats`` (written by prepare for the train split); None when absent."""
    stats_dir = Path(root) / "stats"
    mean_path, pca_path = stats_dir / "mean_image.npy", stats_dir / "pca.json"
    if not (mean_path.is_file() and pca_path.is_file()):
        return None
    pca = read_json(pca_path)
    return DatasetStats(
        mean_image=np.load(mean_path, allow_pickle=False).astype(np.float32),
        eigval=np.asarray(pca["eigval"], np.float64),
        eigvec=np.asarray(pca["eigvec"], np.float64),
        pixel_scale=float(pca["pixel_scale"]),
    )


def decode_jpeg(data: bytes, backend: str = "pil") -> np.ndarray:
    """JPEG bytes → uint8 (H, W, 3) RGB. ``backend``: "pil" (always available) or "simplejpeg"."""
    if backend == "simplejpeg":
        import simplejpeg
        return simplejpeg.decode_jpeg(data, colorspace="RGB")
    from PIL import Image
    with Image.open(io.BytesIO(data)) as img:
        return np.asarray(img.convert("RGB"))


class PreparedStore:
    """One split of a prepared store. See the module docstring for usage.

    Attributes: ``labels`` (int64, (N,)), ``class_names``, ``wnids``, ``num_classes``,
    ``image_size`` (256, or 28 for Fashion-MNIST), ``channels`` (3 or 1), ``encoding``
    ("jpeg" or "raw": uncompressed uint8 H×W×C records).
    """

    def __init__(self, root: str | os.PathLike, split: str = "train"):
        self.root = Path(root)
        self.split = split
        self.split_dir = self.root / split
        if not self.root.is_dir():
            raise FileNotFoundError(f"prepared store not found: {self.root} "
                                    f"(create it with `alexnet prepare SRC {self.root}`)")
        meta_path = self.split_dir / "meta.json"
        if not meta_path.is_file():
            have = [s for s in SPLITS if (self.root / s / "meta.json").is_file()]
            if self.split_dir.is_dir():
                raise ValueError(f"{self.split_dir} is incomplete (prepare was interrupted?): run "
                                 f"`alexnet prepare SRC {self.root} --split {split}` again to finish it")
            raise FileNotFoundError(f"{self.root} has no prepared split {split!r} "
                                    f"(complete splits: {', '.join(have) or 'none'})")
        self.meta = read_json(meta_path)
        if self.meta.get("format") != STORE_FORMAT:
            raise ValueError(f"{meta_path}: format {self.meta.get('format')!r}, expected {STORE_FORMAT!r}")
        with np.load(self.split_dir / "index.npz", allow_pickle=False) as idx:
            self.shards = idx["shard"].astype(np.int64)
            self.offsets = idx["offset"].astype(np.int64)
            self.lengths = idx["length"].astype(np.int64)
            self.labels = idx["label"].astype(np.int64)
        classes = read_json(self.root / "classes.json")
        self.wnids: list[str] = list(classes["wnids"])
        self.class_names: list[str] = list(classes["names"])
        self.num_classes = len(self.wnids)
        self.image_size = int(self.meta["image_size"])
        self.channels = int(self.meta["channels"])
        self.encoding = str(self.meta["encoding"])
        self._fds: dict[int, int] = {}
        self._pid = os.getpid()

    def __len__(self) -> int:
        return len(self.labels)

    def __repr__(self) -> str:
        return (f"PreparedStore({str(self.root)!r}, split={self.split!r}: {len(self)} images, "
                f"{self.num_classes} classes, {self.image_size}x{self.image_size}x{self.channels} "
                f"{self.encoding})")

    def _fd(self, shard: int) -> int:
        if os.getpid() != self._pid:  # a forked child must not share the parent's descriptors' fate
            self._fds, self._pid = {}, os.getpid()
        fd = self._fds.get(shard)
        if fd is None:
            fd = self._fds[shard] = os.open(shard_bin(self.split_dir, shard), os.O_RDONLY)
        return fd

    def read_encoded(self, i: int) -> bytes:
        """The stored bytes of image ``i`` (a JPEG file, or a raw H×W×C uint8 record)."""
        length = int(self.lengths[i])
        data = os.pread(self._fd(int(self.shards[i])), length, int(self.offsets[i]))
        if len(data) != length:
            raise OSError(f"{shard_bin(self.split_dir, int(self.shards[i]))} is truncated: image {i} "
                          f"needs bytes {self.offsets[i]}..{self.offsets[i] + length}; prepare it again")
        return data

    def decode_bytes(self, data: bytes, backend: str = "pil") -> np.ndarray:
        if self.encoding == "raw":
            return np.frombuffer(data, np.uint8).reshape(self.image_size, self.image_size, self.channels)
        return decode_jpeg(data, backend)

    def decode(self, i: int, backend: str = "pil") -> np.ndarray:
        """Image ``i`` as uint8 (H, W, C)."""
        return self.decode_bytes(self.read_encoded(i), backend)

    def stats(self) -> DatasetStats | None:
        """The train split's mean image and PCA (the same for every split); None if not prepared."""
        return load_stats(self.root)

    def sources(self) -> list[str]:
        """Where each image came from (file path, or archive:member), in index order."""
        return (self.split_dir / "sources.txt").read_text(encoding="utf-8").splitlines()

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds = {}

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_fds"] = {}
        return state

    def __del__(self):
        if getattr(self, "_pid", None) == os.getpid():
            for fd in getattr(self, "_fds", {}).values():
                try:
                    os.close(fd)
                except OSError:
                    pass
