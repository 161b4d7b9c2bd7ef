"""One rule for walking a folder of images (``prepare``'s ImageFolder, ``predict``, ``features``).

    for path in walk_files("photos", on_skip=lambda folder, why: print(folder, why)):
        ...

Symlinked folders are followed (a class folder is often a link into another disk), but each
real folder is walked once: a link back up the tree (``ln -s .. cls/loop``) or a second link to
a folder already walked is skipped and reported, so no image is listed twice or under another
class. Files come in sorted order, folder by folder.
"""

from __future__ import annotations

import os
from typing import Callable, Iterator


def folder_key(path: str | os.PathLike) -> tuple[int, int] | None:
    """What identifies a real folder (device, inode), whatever the links to it; None if unreadable."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def walk_files(root: str | os.PathLike, on_skip: Callable[[str, str], None] | None = None,
               on_error: Callable[[OSError], None] | None = None,
               seen: set | None = None) -> Iterator[str]:
    """Every file under ``root`` (sorted, following symlinked folders once each; see the module).
    ``on_skip(folder, reason)`` hears of each folder left out; ``on_error`` of unreadable ones.
    ``seen``: the :func:`folder_key` of folders not to enter (shared by the walks of several roots,
    e.g. the dataset root and every class folder); ``root`` itself is always walked."""
    seen = set() if seen is None else seen
    seen.add(folder_key(root))
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True, onerror=on_error):
        keep = []
        for name in sorted(dirnames):
            path = os.path.join(dirpath, name)
            key = folder_key(path)
            if key is None:
                continue
            if key in seen:
                if on_skip is not None:
                    target = os.path.realpath(path)
                    on_skip(path, f"a link to {target}, which is walked already (a symlink loop or a second "
                                  f"link to one folder)")
                continue
            seen.add(key)
            keep.append(name)
        dirnames[:] = keep
        for name in sorted(filenames):
            yield os.path.join(dirpath, name)
