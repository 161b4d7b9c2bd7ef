"""Where images come from: each module lists one kind of source as :class:`Item` records.

:func:`discover` looks at ``SRC`` and returns one :class:`SplitSource` per split it finds:

- an ImageFolder tree ``<class>/<image>`` (ILSVRC's ``train/<wnid>/*.JPEG`` is one);
- an ILSVRC-2012 root: ``train/`` (folders) or ``ILSVRC2012_img_train.tar`` (a tar of per-class
  tars), ``val/`` (folders, or flat with the devkit's ground truth + ``meta.mat``, or with Kaggle's
  ``LOC_val_solution.csv``) or ``ILSVRC2012_img_val.tar``; Kaggle's ``ILSVRC/Data/CLS-LOC`` layout;
- Fashion-MNIST's idx files;
- Hugging Face parquet shards (``image.bytes``, ``label``; needs pyarrow), see :mod:`.parquet`.

Listing never decodes an image; a file that cannot be labelled is recorded with its reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple


class Item(NamedTuple):
    """One input image. ``kind``: "file" (read ``path``), "range" (``size`` bytes of ``path`` at
    ``offset``: a member of an uncompressed tar), "bytes" (``data`` itself), "parquet" (the
    ``image`` bytes of row ``size`` of row group ``offset`` of the parquet shard ``path``)."""

    source: str
    label: str          # the class id (wnid or folder name); the index is given later
    kind: str
    path: str = ""
    offset: int = 0
    size: int = -1
    data: bytes | None = None


@dataclass
class SplitSource:
    """What one split of ``SRC`` holds: its items, the files that were set aside while listing
    (``skipped``: (source, reason, detail)), the class ids it found, and names it knows.
    ``notes``: things about the source the user should hear of that are no skipped input (e.g.
    parquet test shards that were ignored)."""

    kind: str
    items: list[Item]
    class_ids: list[str]
    names: dict[str, str] = field(default_factory=dict)
    skipped: list[tuple[str, str, str]] = field(default_factory=list)
    image_size: int | None = 256     # None: keep the native size (Fashion-MNIST)
    channels: int = 3
    encoding: str = "jpeg"
    notes: list[str] = field(default_factory=list)


from .discover import discover  # noqa: E402  (needs Item and SplitSource)

__all__ = ["Item", "SplitSource", "discover"]
