"""Find or prepare the store for what a user names as data: training and evaluation call this.

    opened = open_data("data/imagenet")                 # a prepared store (alexnet prepare OUT)
    opened = open_data(None, dataset="fashion-mnist")   # found on this machine, prepared once
    opened.train, opened.val, opened.description
    store = open_split("fashion-mnist", "val")          # one split, for evaluation

What ``data`` may be:

- a prepared store (the OUT directory of ``alexnet prepare``, recognised by ``classes.json``);
- Fashion-MNIST (``dataset="fashion-mnist"``, the word ``fashion-mnist`` as ``data``, or a folder
  of its idx files / a torchvision root): prepared once into ``$ALEXNET_CACHE`` (default
  ``~/.cache/alexnet``) under ``fashion-mnist-<hash of the source path>`` and reused;
- an ImageFolder tree (``CLASS/*.jpg``, or ``train/CLASS/…`` and ``val/CLASS/…``): prepared
  once into the same cache under ``imagefolder-<name>-<hash>`` (256×256 JPEGs with their mean
  image and PCA). The cache is reused while the tree is unchanged (every file's path, size and
  modification time: :func:`source_fingerprint`); after a change it is prepared again.

In a distributed run only one process per node prepares (``prepare_here``); the others wait in
``wait`` (a barrier the caller provides) and then open what it wrote.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..atomic import atomic_write_text
from ..download import alexnet_cache_dir
from ..walk import walk_files
from .store import PreparedStore

FASHION_MNIST = "fashion-mnist"


def cache_dir() -> Path:
    """``$ALEXNET_CACHE`` or ``~/.cache/alexnet``: where sources are prepared automatically."""
    return alexnet_cache_dir()      # the one rule, shared with the Fashion-MNIST download


@dataclass
class OpenedData:
    train: PreparedStore
    val: PreparedStore | None
    description: str
    root: Path


def _key(path: Path) -> str:
    return hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]


def looks_like_fashion_mnist(path: Path) -> bool:
    return path.is_dir() and (any(path.glob("*idx*-ubyte*")) or (path / "FashionMNIST").is_dir())


def _open_splits(root: Path) -> tuple[PreparedStore, PreparedStore | None]:
    train = PreparedStore(root, "train")
    try:
        val = PreparedStore(root, "val")
    except FileNotFoundError:
        val = None
    return train, val


@contextlib.contextmanager
def preparing_lock(root: Path):
    """Held while ``root`` is checked and prepared, so that two commands started together on one
    machine (two experiments, a test run beside a demo) prepare it once: the second waits, then
    finds it complete. Without it, each would clear the other's half-written shards."""
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.parent / f".{root.name}.lock", "a") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


FINGERPRINT_NAME = "source-fingerprint.txt"   # in a cache made from an ImageFolder


def source_fingerprint(src: Path) -> str:
    """A digest of every file under ``src`` (path, size, modification time): it changes when an
    image or a class folder is added, removed or replaced."""
    h = hashlib.sha1()
    for path in walk_files(src):
        try:
            st = os.stat(path)
        except OSError:
            continue
        h.update(f"{os.path.relpath(path, src)}\t{st.st_size}\t{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def _stale(src: Path, root: Path, fingerprint: str | None) -> bool:
    """Whether the cache ``root`` was made from another state of ``src`` (an ImageFolder)."""
    if fingerprint is None or not root.exists():
        return False
    path = root / FINGERPRINT_NAME
    if path.is_file() and path.read_text().strip() == fingerprint:
        return False
    print(f"{src} changed since it was prepared into {root} (images or class folders added, removed or "
          f"replaced): preparing it again", file=sys.stderr)
    shutil.rmtree(root)
    return True


def _prepared(src: Path, root: Path, prepare_here: bool, wait: Callable[[], None] | None,
              progress: bool, watch: bool = False) -> tuple[PreparedStore, PreparedStore | None]:
    if prepare_here:
        with preparing_lock(root):
            fingerprint = source_fingerprint(src) if watch else None
            _stale(src, root, fingerprint)
            try:
                PreparedStore(root, "train")
            except (FileNotFoundError, ValueError):
                from .prepare import prepare
                prepare(src, root, split="all", progress=progress)
                if fingerprint is not None:
                    atomic_write_text(root / FINGERPRINT_NAME, fingerprint + "\n")
    if wait is not None:
        wait()
    return _open_splits(root)


def open_data(data: str | os.PathLike | None, dataset: str | None = None, *, prepare_here: bool = True,
              wait: Callable[[], None] | None = None, progress: bool = True) -> OpenedData:
    """The train and val stores of ``data`` (see the module docstring), preparing them if needed."""
    if dataset not in (None, FASHION_MNIST):
        raise ValueError(f"unknown data set {dataset!r}; the one named data set is {FASHION_MNIST!r}")
    if str(data) == FASHION_MNIST:
        data, dataset = None, FASHION_MNIST
    if dataset == FASHION_MNIST or (data and looks_like_fashion_mnist(Path(data))):
        from .sources.fashion_mnist import find_fashion_mnist
        src = Path(find_fashion_mnist(data))
        root = cache_dir() / f"fashion-mnist-{_key(src)}"
        train, val = _prepared(src, root, prepare_here, wait, progress)
        return OpenedData(train, val, f"Fashion-MNIST from {src} (prepared at {root})", root)
    if not data:
        raise ValueError("no data: pass --data (a prepared store, an ImageFolder, or Fashion-MNIST's idx files) "
                         "or --dataset fashion-mnist")
    path = Path(data)
    if not path.exists():
        raise FileNotFoundError(f"data {str(data)!r}: no such directory; pass the OUT directory of `alexnet prepare`, "
                                f"an ImageFolder tree, Fashion-MNIST's idx files, or `fashion-mnist`")
    if (path / "classes.json").is_file():
        train, val = _open_splits(path)
        return OpenedData(train, val, f"prepared store {path}", path)
    if not path.is_dir():
        raise ValueError(f"data {str(data)!r} is a file; pass a directory (a prepared store, an ImageFolder tree, "
                         f"or Fashion-MNIST's idx files)")
    root = cache_dir() / f"imagefolder-{path.resolve().name}-{_key(path)}"
    train, val = _prepared(path, root, prepare_here, wait, progress, watch=True)
    return OpenedData(train, val, f"ImageFolder {path} (prepared at {root})", root)


def open_split(data: str | os.PathLike, split: str = "val") -> PreparedStore:
    """One split of ``data`` for evaluation. A prepared store needs only that split prepared;
    anything else is opened (and prepared once) by :func:`open_data`, so training and
    evaluation share one prepared copy. ``holdout:N:SEED`` is the validation split a run with
    ``holdout`` N held out of the training split (:mod:`alexnet.data.holdout`)."""
    from .holdout import hold_out, parse_split_name
    held = parse_split_name(split)
    if held is not None:
        return hold_out(open_split(data, "train"), *held)[1]
    p = Path(data)
    if str(data) != FASHION_MNIST and (p / "classes.json").is_file():
        return PreparedStore(p, split)
    opened = open_data(data)
    store = {"train": opened.train, "val": opened.val}.get(split)
    if store is None:
        have = "train" + (", val" if opened.val is not None else "")
        raise FileNotFoundError(f"{opened.description} has no {split!r} split (splits: {have})")
    return store
