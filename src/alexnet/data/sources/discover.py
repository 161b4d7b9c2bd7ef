"""Find the splits in ``SRC`` (see :mod:`alexnet.data.sources`)."""

from __future__ import annotations

import tarfile
from pathlib import Path

from . import SplitSource
from .fashion_mnist import fashion_mnist_source, is_fashion_mnist_dir
from .ilsvrc import (KAGGLE_CSV, KAGGLE_MAPPING, devkit_labels, find_devkit, kaggle_labels,
                     label_flat, list_flat_dir, read_synset_mapping, tar_source)
from .imagefolder import has_class_folders, list_imagefolder
from .parquet import find_parquet, parquet_sources

TRAIN_TARS = ("ILSVRC2012_img_train.tar",)
VAL_TARS = ("ILSVRC2012_img_val.tar",)


def _flat_val(entries, skipped, roots: list[Path], where: str) -> SplitSource:
    """Label a flat val set from Kaggle's CSV or the devkit, searched in ``roots``."""
    for root in roots:
        if (root / KAGGLE_CSV).is_file():
            src = label_flat(entries, kaggle_labels(root / KAGGLE_CSV), str(root / KAGGLE_CSV))
            src.kind = "kaggle-val"
            break
        devkit = find_devkit(root)
        if devkit is not None:
            labels, names = devkit_labels(devkit[0], devkit[1])
            src = label_flat(entries, labels, devkit[2])
            src.names = names
            break
    else:
        raise FileNotFoundError(
            f"{where} holds images without class folders, and no labels were found for them: put the "
            f"ILSVRC2012 devkit (ILSVRC2012_devkit_t12/ or its .tar.gz, with data/meta.mat and "
            f"data/ILSVRC2012_validation_ground_truth.txt) or Kaggle's {KAGGLE_CSV} in "
            f"{' or '.join(str(r) for r in roots)}, or sort the images into <wnid>/ folders")
    src.skipped = skipped + src.skipped
    return src


def _split_from_path(path: Path, kind: str, label_roots: list[Path]) -> SplitSource:
    if path.is_dir() and not any(path.iterdir()):
        raise FileNotFoundError(f"{path} is empty: nothing to prepare (expected class folders of images, an "
                                f"ILSVRC-2012 root, Fashion-MNIST idx files, or parquet shards)")
    if path.is_file():
        if not tarfile.is_tarfile(path):
            raise ValueError(f"{path} is a file but not a tar archive: prepare reads a folder of class folders, a "
                             f"dataset root, a .tar of images, or parquet shards. To classify one photo, use "
                             f"`alexnet predict WEIGHTS {path}`")
        result = tar_source(path, kind + "-tar")
        if isinstance(result, SplitSource):
            return result
        return _flat_val(*result, label_roots, str(path))
    if has_class_folders(path):
        return list_imagefolder(path, kind)
    return _flat_val(list_flat_dir(path), [], label_roots, str(path))


def discover(src: str | Path, split: str = "all") -> dict[str, SplitSource]:
    """The splits of ``src`` ("train"/"val") → SplitSource, restricted to ``split`` unless "all".

    ``src`` may be a dataset root (ILSVRC with train/ and val/ or their tars, Kaggle's layout,
    Fashion-MNIST's idx folder), a single ImageFolder tree or tar (used as ``split``, "train" for
    "all"), a flat val folder/tar with its labels beside it, or Hugging Face parquet shards
    (``*.parquet`` in ``src`` or ``src/data``, or one such file; needs pyarrow).
    """
    src = Path(src)
    if not src.exists():
        raise FileNotFoundError(f"source not found: {src}")
    wanted = ("train", "val") if split == "all" else (split,)
    if src.is_dir() and is_fashion_mnist_dir(src):
        found = {s: fashion_mnist_source(src, s) for s in wanted}
        return {s: v for s, v in found.items() if v is not None}
    if find_parquet(src):
        return parquet_sources(src, wanted)
    root, names = src, {}
    if src.is_dir() and (src / KAGGLE_MAPPING).is_file():
        names = read_synset_mapping(src / KAGGLE_MAPPING)
        if (src / "ILSVRC" / "Data" / "CLS-LOC").is_dir():
            root = src / "ILSVRC" / "Data" / "CLS-LOC"
    label_roots = list(dict.fromkeys([src, root, src.parent]))
    paths: dict[str, Path] = {}
    if src.is_dir():
        for s, tars in (("train", TRAIN_TARS), ("val", VAL_TARS)):
            cands = [root / s] + [src / t for t in tars]
            hit = next((p for p in cands if p.exists()), None)
            if hit is not None:
                paths[s] = hit
    if not paths:                                   # SRC itself is one split
        paths[wanted[0]] = src
        label_roots = list(dict.fromkeys([src, src.parent]))
    out = {}
    for s in wanted:
        if s in paths:
            out[s] = _split_from_path(paths[s], "imagefolder" if s == "train" else "val", label_roots)
            for wnid, words in names.items():
                out[s].names.setdefault(wnid, words)
    return out
