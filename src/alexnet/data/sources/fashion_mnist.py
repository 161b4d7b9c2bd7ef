"""Fashion-MNIST's idx files (``{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]``).

"train" is the 60,000-image train file, "val" the 10,000-image t10k file. Images stay 28×28
grey and are stored losslessly as raw uint8 records (no JPEG, no upscaling).
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from ...download import OFFLINE_ENV, ensure_asset, fashion_mnist_assets, fashion_mnist_download_dir, offline
from . import Item, SplitSource

CLASS_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
               "Sneaker", "Bag", "Ankle boot"]
FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
         "val": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")   # Debian's dataset-fashion-mnist package
_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _candidates(path) -> list[Path]:
    out = []
    if path is not None:
        out += [Path(path), Path(path) / "raw", Path(path) / "FashionMNIST" / "raw"]
    if os.environ.get("FASHION_MNIST_DIR"):
        out.append(Path(os.environ["FASHION_MNIST_DIR"]))
    out += [SYSTEM_DIR, Path("data/FashionMNIST/raw"),
            Path("FashionMNIST/raw"), Path.home() / ".cache" / "fashion-mnist",
            Path.home() / ".cache" / "FashionMNIST" / "raw", Path.home() / "data" / "FashionMNIST" / "raw",
            fashion_mnist_download_dir()]
    return out


def _file(folder: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def is_fashion_mnist_dir(folder: Path) -> bool:
    return folder.is_dir() and any(_file(folder, s) is not None for pair in FILES.values() for s in pair)


def find_fashion_mnist(path=None) -> Path:
    """The folder holding Fashion-MNIST's idx files: ``path`` (or its ``raw``/``FashionMNIST/raw``),
    ``$FASHION_MNIST_DIR``, ``/usr/share/datasets/fashion-mnist``, torchvision's
    ``./data/FashionMNIST/raw``, ``~/.cache``, the download cache ``$ALEXNET_CACHE/FashionMNIST/raw``.
    Without ``path``, when none has them, the four files are downloaded into the download cache
    (:mod:`alexnet.download`, unless offline). Raises FileNotFoundError listing where it looked."""
    looked = _candidates(path)
    download_dir = fashion_mnist_download_dir()
    for folder in looked:
        # the download cache counts once it is complete; a partial one is completed below
        if is_fashion_mnist_dir(folder) and (folder != download_dir or _complete(folder)):
            return folder
    if path is None and not offline():
        for asset in fashion_mnist_assets():
            ensure_asset(asset.name)
        return download_dir
    why = (f"downloads are off ({OFFLINE_ENV}=1 or --offline)" if path is None else
           f"{path} holds none (only the named data set `fashion-mnist` is downloaded)")
    raise FileNotFoundError(
        "Fashion-MNIST idx files not found; looked in " + ", ".join(str(p) for p in looked)
        + f"; {why}. Use `--dataset fashion-mnist` with network to download them into {download_dir}, "
          "or point --data or FASHION_MNIST_DIR at the four *-ubyte.gz files.")


def _complete(folder: Path) -> bool:
    return all(_file(folder, stem) is not None for pair in FILES.values() for stem in pair)


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """An idx file (gzip or raw) → array. Checks the magic number and the size."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _DTYPES:
        raise ValueError(f"{path} is not an idx file (bad magic number {data[:4].hex()})")
    ndim = data[3]
    dims = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_DTYPES[data[2]])
    start = 4 + 4 * ndim
    need = start + int(np.prod(dims)) * dtype.itemsize
    if len(data) != need:
        raise ValueError(f"{path}: header says {dims} ({need} bytes) but the file has {len(data)} bytes; "
                         f"is it truncated?")
    return np.frombuffer(data, dtype, offset=start).reshape(dims)


def fashion_mnist_source(folder: Path, split: str) -> SplitSource | None:
    """One split of Fashion-MNIST as items carrying their raw 28×28 pixels; None if its files
    are not in ``folder``."""
    img_stem, lab_stem = FILES[split]
    img_path, lab_path = _file(folder, img_stem), _file(folder, lab_stem)
    if img_path is None or lab_path is None:
        return None
    images, labels = read_idx(img_path), read_idx(lab_path)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(f"{img_path} {images.shape} and {lab_path} {labels.shape} do not match")
    if labels.size and (labels.min() < 0 or labels.max() >= len(CLASS_NAMES)):
        raise ValueError(f"{lab_path}: labels outside 0..{len(CLASS_NAMES) - 1}")
    images = np.ascontiguousarray(images, dtype=np.uint8)
    items = [Item(source=f"{img_path}#{i}", label=CLASS_NAMES[int(y)], kind="bytes", data=images[i].tobytes())
             for i, y in enumerate(labels)]
    return SplitSource(kind="fashion-mnist", items=items, class_ids=list(CLASS_NAMES),
                       names={c: c for c in CLASS_NAMES}, image_size=None, channels=1, encoding="raw")
