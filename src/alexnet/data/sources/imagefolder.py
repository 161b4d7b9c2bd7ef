"""ImageFolder trees: ``ROOT/<class>/<image>`` (any depth below the class folder)."""

from __future__ import annotations

import os
from pathlib import Path

from . import Item, SplitSource


def has_class_folders(root: Path) -> bool:
    with os.scandir(root) as it:
        return any(e.is_dir() for e in it)


def list_imagefolder(root: Path, kind: str = "imagefolder") -> SplitSource:
    """Every file under each class folder of ``root`` becomes an item labelled by the folder.
    Files directly in ``root`` are reported (they belong to no class)."""
    root = Path(root)
    classes, loose = [], []
    with os.scandir(root) as it:
        for e in it:
            (classes if e.is_dir() else loose).append(e.name)
    classes.sort()
    items = []
    skipped = [(str(root / n), "not in a class folder", "files directly under an ImageFolder root have no label")
               for n in sorted(loose)]
    for cls in classes:
        def report(err: OSError) -> None:  # a folder os.walk cannot list must not vanish silently
            skipped.append((str(err.filename), "unreadable folder", err.strerror or str(err)))

        for dirpath, dirnames, filenames in os.walk(root / cls, followlinks=True, onerror=report):
            dirnames.sort()
            for name in sorted(filenames):
                path = os.path.join(dirpath, name)
                items.append(Item(source=path, label=cls, kind="file", path=path))
    return SplitSource(kind=kind, items=items, class_ids=classes, skipped=skipped)
