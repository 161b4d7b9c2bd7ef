"""ImageFolder trees: ``ROOT/<class>/<image>`` (any depth below the class folder)."""

from __future__ import annotations

import os
from pathlib import Path

from ...walk import folder_key, walk_files
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
    seen = {folder_key(p) for p in [root] + [root / c for c in classes]}   # no class walks into another
    for cls in classes:
        def report(err: OSError) -> None:  # a folder os.walk cannot list must not vanish silently
            skipped.append((str(err.filename), "unreadable folder", err.strerror or str(err)))

        def loop(folder: str, why: str) -> None:
            skipped.append((folder, "folder walked already", why))

        for path in walk_files(root / cls, on_skip=loop, on_error=report, seen=seen):
            items.append(Item(source=path, label=cls, kind="file", path=path))
    have = {it.label for it in items}
    notes = [f"class folder {root / c} holds no files: it is kept as a class (an output of the net that no "
             f"image trains); remove the folder if it is not one" for c in classes if c not in have]
    return SplitSource(kind=kind, items=items, class_ids=classes, skipped=skipped, notes=notes)
