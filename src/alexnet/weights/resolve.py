"""Which file a user means: a path, a run directory, or a named public asset.

Every command that takes weights accepts

- a ``model.safetensors`` written by this project, or the run directory that holds it;
- a file one of :mod:`alexnet.weights.importers` reads (torchvision's ``.pth``, a ``.caffemodel``,
  an ``.onnx``), converted on use;
- a tag of :data:`NAMED_ASSETS`: ``torchvision:IMAGENET1K_V1`` (torchvision's one-tower weights)
  or ``caffe:bvlc_alexnet`` (Caffe's weights for the paper's two-tower net), each a file in
  torch.hub's cache, ``$TORCH_HOME/hub/checkpoints/`` (``TORCH_HOME`` defaults to
  ``$XDG_CACHE_HOME/torch``, then ``~/.cache/torch``).

:func:`cached_asset` is the one place a tag becomes a local file: a missing file is downloaded into
torch.hub's cache on first use and checked (:mod:`alexnet.download`); ``--offline`` /
``ALEXNET_OFFLINE=1`` makes it an error that says where it was looked for and how to get it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..download import ensure_asset
from .format import CHECKPOINT_NAME, WEIGHTS_NAME

TORCHVISION_TAG = "torchvision:IMAGENET1K_V1"
TORCHVISION_FILE = "alexnet-owt-7be5be79.pth"
CAFFE_TAG = "caffe:bvlc_alexnet"
CAFFE_FILE = "bvlc_alexnet.caffemodel"


@dataclass(frozen=True)
class NamedAsset:
    """A public weights file known by a tag, and where torch.hub's cache keeps it."""

    tag: str
    file: str          # its name in $TORCH_HOME/hub/checkpoints/
    what: str          # what it is, for messages
    how_to_get: str    # one sentence: how a user with a network gets the file there
    url: str | None = None
    sha1: str | None = None     # the published digest, where the publisher gives one


NAMED_ASSETS = {a.tag: a for a in (
    NamedAsset(TORCHVISION_TAG, TORCHVISION_FILE, "torchvision's AlexNet weights",
               "On a machine with network, this downloads them there: python -c \"import torchvision; "
               "torchvision.models.alexnet(weights='IMAGENET1K_V1')\""),
    NamedAsset(CAFFE_TAG, CAFFE_FILE, "Caffe's bvlc_alexnet weights (233 MB)",
               "Download http://dl.caffe.berkeleyvision.org/bvlc_alexnet.caffemodel to that path",
               url="http://dl.caffe.berkeleyvision.org/bvlc_alexnet.caffemodel",
               sha1="9116a64c0fbe4459d18f4bb6b56d647b63920377"),
)}


def hub_checkpoints_dir() -> Path:
    """torch.hub's ``$TORCH_HOME/hub/checkpoints`` (as ``torch.hub.get_dir()``, which expands "~")."""
    home = Path(os.environ.get("TORCH_HOME") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
                / "torch").expanduser()
    return home / "hub" / "checkpoints"


def torchvision_cache_path() -> Path:
    """Where torch.hub keeps torchvision's AlexNet: ``$TORCH_HOME/hub/checkpoints/alexnet-owt-7be5be79.pth``."""
    return hub_checkpoints_dir() / TORCHVISION_FILE


def named_asset(tag: str) -> NamedAsset:
    """The asset of a tag; an unknown tag names the known ones of its kind."""
    if tag in NAMED_ASSETS:
        return NAMED_ASSETS[tag]
    kind = tag.split(":", 1)[0]
    same = [t for t in NAMED_ASSETS if t.startswith(kind + ":")]
    if len(same) == 1:
        raise ValueError(f"unknown {kind} weights {tag!r}; the one known tag is {same[0]}")
    raise ValueError(f"unknown weights tag {tag!r}; known tags: {', '.join(NAMED_ASSETS)}")


def cached_asset(tag: str) -> Path:
    """The local file of a named asset (``torchvision:IMAGENET1K_V1``, ``caffe:bvlc_alexnet``) in
    torch.hub's cache; a missing file is downloaded there (:func:`alexnet.download.ensure_asset`: the URL
    and checksum of :data:`alexnet.download.registry`), or, offline, a FileNotFoundError saying where it
    looked and how to get it."""
    named_asset(tag)                  # an unknown tag names the known ones
    return ensure_asset(tag)          # downloaded and checked on first use (alexnet.download), unless offline


def is_tag(spec: str | os.PathLike) -> bool:
    """``kind:name`` with a known kind (a path such as ``C:\\w.pth`` or ``./caffe:x`` is not a tag)."""
    text = str(spec)
    return ":" in text and text.split(":", 1)[0] in {t.split(":", 1)[0] for t in NAMED_ASSETS}


def resolve_weights_path(spec: str | os.PathLike) -> Path:
    """The weights file a user means: the path itself, ``RUN_DIR/model.safetensors`` for a run
    directory, or the cached file of a tag. Clear errors otherwise."""
    text = str(spec)
    if is_tag(text):
        return cached_asset(text)
    p = Path(spec)
    if p.is_dir():
        if (p / WEIGHTS_NAME).is_file():
            return p / WEIGHTS_NAME
        has_ckpt = (p / CHECKPOINT_NAME).is_file()
        raise FileNotFoundError(f"{p} is a directory without {WEIGHTS_NAME}"
                                + ("; its run has not finished (the weights are written at the end; resume it with "
                                   f"`alexnet train --resume {p}`)" if has_ckpt else
                                   "; pass a run directory of `alexnet train` or a weights file"))
    if not p.exists():
        raise FileNotFoundError(f"weights {text!r}: no such file or directory; pass a {WEIGHTS_NAME} written by "
                                f"`alexnet train`, its run directory, a torchvision AlexNet .pth, a .caffemodel, "
                                f"or one of {', '.join(NAMED_ASSETS)}")
    if p.name == CHECKPOINT_NAME:
        weights = p.parent / WEIGHTS_NAME
        raise ValueError(f"{p} is a resumable training checkpoint, not a weights file: pass "
                         + (f"{weights} (or the run directory {p.parent})" if weights.is_file() else
                            f"the run directory {p.parent} once its run has finished (`alexnet train --resume "
                            f"{p.parent}` continues it)"))
    return p
