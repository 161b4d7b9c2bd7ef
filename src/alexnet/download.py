"""The public files this project can fetch, and the one way it fetches them.

    from alexnet.download import ensure_asset
    path = ensure_asset("torchvision:IMAGENET1K_V1")   # the cached file, downloaded on first use

Named assets (:func:`registry`), each with its cache path and checksum:

- ``torchvision:IMAGENET1K_V1``: torchvision's AlexNet weights, ``alexnet-owt-7be5be79.pth`` from
  https://download.pytorch.org/models/ into torch.hub's cache (``$TORCH_HOME/hub/checkpoints``),
  checked as torch.hub checks it: the file's sha256 begins with the name's ``7be5be79``;
- ``caffe:bvlc_alexnet``: BVLC's ``bvlc_alexnet.caffemodel`` (233 MB) from
  http://dl.caffe.berkeleyvision.org/ into the same folder, checked against its published sha1;
- ``fashion-mnist:<file>``: the four ``*-ubyte.gz`` files of ``torchvision.datasets.FashionMNIST``
  (its ``mirrors`` and ``resources``, MD5s included, read from torchvision, not copied) into
  ``$ALEXNET_CACHE/FashionMNIST/raw`` (``ALEXNET_CACHE`` defaults to ``~/.cache/alexnet``).

A download streams into a temporary file in the cache folder (a progress bar, or a line per
interval off a terminal), is checked, then renamed into place, so the cache holds complete,
verified files only: a refused connection, a truncated body or a wrong checksum leaves nothing
behind and raises :class:`DownloadError`, one line saying what happened and what to do.

``ALEXNET_OFFLINE=1`` (the CLI's ``--offline`` sets it) forbids downloads: a missing file is a
:class:`FileNotFoundError` that says where it was looked for. ``ALEXNET_MIRROR_<SOURCE>``
(``TORCHVISION``, ``CAFFE``, ``FASHION_MNIST``) replaces a source's base URL(s) with one of yours
(a local mirror; the tests' loopback server). Checksums have no such override: downloads are
always checked against the table here.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import http.client
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from .atomic import atomic_path
from .progress import Progress

OFFLINE_ENV = "ALEXNET_OFFLINE"
MIRROR_ENV = "ALEXNET_MIRROR_"          # + the asset's source, e.g. ALEXNET_MIRROR_TORCHVISION
TIMEOUT_S = 60.0                       # per socket operation, not for the whole file
CHUNK = 1 << 20


class DownloadError(OSError):
    """A download that failed: its message is one line (what happened, what to do)."""


def alexnet_cache_dir() -> Path:
    """``$ALEXNET_CACHE`` or ``~/.cache/alexnet``: prepared data and downloaded data sets."""
    return Path(os.environ.get("ALEXNET_CACHE") or Path.home() / ".cache" / "alexnet")


def torch_hub_checkpoints() -> Path:
    """torch.hub's cache of weights files: ``$TORCH_HOME/hub/checkpoints`` (``~/.cache/torch``)."""
    import torch.hub
    return Path(torch.hub.get_dir()) / "checkpoints"


def fashion_mnist_download_dir() -> Path:
    """Where Fashion-MNIST is downloaded: torchvision's layout under the alexnet cache."""
    return alexnet_cache_dir() / "FashionMNIST" / "raw"


@dataclass(frozen=True)
class Asset:
    """One public file: where it comes from, how it is checked, where it is kept."""

    name: str                          # the tag users write, e.g. "caffe:bvlc_alexnet"
    filename: str                      # the file's name at its origin and in the cache
    mirrors: tuple[str, ...]           # base URLs, tried in order; the URL is mirror + filename
    algorithm: str                     # "sha256", "sha1" or "md5"
    digest: str                        # hex; a prefix for torch.hub's names (alexnet-owt-<sha256[:8]>)
    folder: Callable[[], Path]         # the cache folder, resolved when used (env may change)
    source: str                        # TORCHVISION, CAFFE or FASHION_MNIST (ALEXNET_MIRROR_<source>)

    @property
    def path(self) -> Path:
        return self.folder() / self.filename

    def urls(self) -> list[str]:
        override = os.environ.get(MIRROR_ENV + self.source)
        bases = [override] if override else list(self.mirrors)
        return [base if base.endswith(self.filename) else base.rstrip("/") + "/" + self.filename
                for base in bases]


TORCHVISION_ALEXNET = Asset(
    name="torchvision:IMAGENET1K_V1", filename="alexnet-owt-7be5be79.pth",
    mirrors=("https://download.pytorch.org/models/",), algorithm="sha256", digest="7be5be79",
    folder=torch_hub_checkpoints, source="TORCHVISION")
CAFFE_ALEXNET = Asset(
    name="caffe:bvlc_alexnet", filename="bvlc_alexnet.caffemodel",
    mirrors=("http://dl.caffe.berkeleyvision.org/",), algorithm="sha1",
    digest="9116a64c0fbe4459d18f4bb6b56d647b63920377", folder=torch_hub_checkpoints, source="CAFFE")
FASHION_MNIST_PREFIX = "fashion-mnist:"


def fashion_mnist_assets() -> list[Asset]:
    """Fashion-MNIST's four files as torchvision lists them (its mirrors, file names and MD5s)."""
    from torchvision.datasets import FashionMNIST
    return [Asset(name=FASHION_MNIST_PREFIX + filename, filename=filename, mirrors=tuple(FashionMNIST.mirrors),
                  algorithm="md5", digest=md5, folder=fashion_mnist_download_dir, source="FASHION_MNIST")
            for filename, md5 in FashionMNIST.resources]


@functools.cache
def registry() -> dict[str, Asset]:
    """Every named asset, by name (built once; tests replace entries to supply their own checksums)."""
    return {a.name: a for a in [TORCHVISION_ALEXNET, CAFFE_ALEXNET, *fashion_mnist_assets()]}


def get_asset(name: str) -> Asset:
    table = registry()
    if name not in table:
        raise ValueError(f"unknown asset {name!r}; known: {', '.join(table)}")
    return table[name]


def offline() -> bool:
    """Whether downloads are forbidden (``ALEXNET_OFFLINE`` set to anything but 0/false/no/empty)."""
    return os.environ.get(OFFLINE_ENV, "").strip().lower() not in ("", "0", "false", "no", "off")


def ensure_asset(name: str | Asset, *, progress: bool | None = None) -> Path:
    """The cached file of asset ``name``; downloaded (and checked) first when it is missing and
    downloads are allowed. Raises FileNotFoundError when offline, DownloadError when it fails."""
    asset = name if isinstance(name, Asset) else get_asset(name)
    path = asset.path
    if path.is_file():
        return path
    if offline():
        raise FileNotFoundError(
            f"{asset.name}: not downloaded yet (looked for {path}) and downloads are off ({OFFLINE_ENV}=1 or "
            f"--offline); run once with network and without --offline to fetch it from {asset.urls()[0]}, "
            f"or copy {asset.filename} to {path}")
    with _download_lock(path.parent):
        if not path.is_file():             # another process may have fetched it while we waited
            _download(asset, path, progress)
    return path


@contextlib.contextmanager
def _download_lock(folder: Path) -> Iterator[None]:
    """Held while a file is downloaded into ``folder`` (a lock on the folder itself, so that no lock
    file is left there): commands started together (torchrun's ranks) fetch it once."""
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)                       # closing the descriptor releases the lock


def _download(asset: Asset, path: Path, progress: bool | None) -> None:
    """Try each URL in turn; the first complete, verified copy is renamed to ``path``."""
    failures = []
    for url in asset.urls():
        try:
            with atomic_path(path) as tmp:  # removed on any error: no partial file stays behind
                _fetch(url, tmp, asset, progress)
            return
        except DownloadError as e:
            failures.append(str(e))
    also = f" (also tried: {'; '.join(failures[:-1])})" if len(failures) > 1 else ""
    raise DownloadError(f"{asset.name}: {failures[-1]}; nothing was kept at {path}. Check the network (or a proxy) "
                        f"and run the command again, or put a copy of {asset.filename} at that path{also}")


def _fetch(url: str, tmp: Path, asset: Asset, progress: bool | None) -> None:
    """Stream ``url`` into ``tmp``, hashing as it goes; DownloadError if it is short or wrong."""
    digest = hashlib.new(asset.algorithm, usedforsecurity=False)   # an integrity check (md5 on FIPS hosts)
    got = 0
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response, open(tmp, "wb") as out:
            size = response.headers.get("Content-Length")
            size = int(size) if size and size.isdigit() else None
            with Progress(total=None if size is None else -(-size // 1024), desc=f"download {asset.filename}",
                          unit="KiB", show=progress, interval_s=5.0) as bar:
                bar.write(f"{asset.name}: downloading {url} into {tmp.parent}")
                for block in iter(lambda: response.read(CHUNK), b""):
                    out.write(block)
                    digest.update(block)
                    got += len(block)
                    bar.set(-(-got // 1024))
    except urllib.error.HTTPError as e:
        raise DownloadError(f"{url} answered HTTP {e.code} {e.reason}") from e
    except urllib.error.URLError as e:
        raise DownloadError(f"could not reach {url} ({_reason(e.reason)})") from e
    except http.client.IncompleteRead as e:
        raise DownloadError(f"the download from {url} stopped after {got + len(e.partial)} of "
                            f"{got + len(e.partial) + (e.expected or 0)} bytes (connection closed)") from e
    except (OSError, http.client.HTTPException) as e:
        raise DownloadError(f"the download from {url} failed after {got} bytes ({_reason(e)})") from e
    if size is not None and got != size:
        raise DownloadError(f"the download from {url} stopped after {got} of {size} bytes (connection closed)")
    found = digest.hexdigest()
    if not found.startswith(asset.digest.lower()):
        want = asset.digest + ("…" if len(asset.digest) < len(found) else "")
        raise DownloadError(f"the file from {url} ({got} bytes) has {asset.algorithm} {found[:len(asset.digest)]}, "
                            f"not the published {want}: a corrupt or changed file, deleted")


def _reason(error: object) -> str:
    text = str(getattr(error, "strerror", None) or error)
    return " ".join(text.split()) or type(error).__name__
