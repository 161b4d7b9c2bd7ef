"""Atomic file writes: a crash or kill mid-write never leaves a half-written file in place."""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path
from typing import Iterator


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


class DiskFull(OSError):
    """A file could not be written because its disk is full; the message names the file and says
    that its previous version is untouched."""

    def __str__(self) -> str:
        return str(self.strerror)


#: Free space under which a failed write is taken for a full disk when the writer does not say
#: (torch.save reports "unexpected pos ..." and nothing else).
NEARLY_FULL = 64 * 2**20


def _disk_full(error: BaseException, folder: Path) -> bool:
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    if "No space left on device" in str(error):     # safetensors: "I/O error: No space left on device"
        return True
    try:
        st = os.statvfs(folder)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < NEARLY_FULL


def _full_error(path: Path, error: BaseException) -> DiskFull:
    try:
        st = os.statvfs(path.parent)
        free = f"{st.f_bavail * st.f_frsize / 2**20:.1f} MiB free"
    except OSError:
        free = "no space left"
    kept = "its previous version is intact" if path.exists() else "nothing was left in its place"
    return DiskFull(errno.ENOSPC, f"{path} was not written: the disk is full ({free}; {type(error).__name__}: "
                                  f"{str(error)[:120]}); {kept}. Free some space and run the command again")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success fsync it and rename it over ``path``.

    On an exception (or a kill) the temporary file is removed or left as ``.tmp-*`` garbage and
    ``path`` keeps its previous content.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"cannot write {path}: it is a directory; name a file inside it or elsewhere")
    if path.parent.exists() and not path.parent.is_dir():
        raise NotADirectoryError(f"cannot write {path}: {path.parent} is a file, not a directory")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".tmp-{path.name}.", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        try:
            yield tmp_path
        except Exception as e:      # (the temp file still fills the disk here)
            if _disk_full(e, path.parent) and not isinstance(e, DiskFull):
                raise _full_error(path, e) from e
            raise
        # mkstemp (and some writers, such as safetensors, that replace the file) make it 0600;
        # give the result the mode any other new file would have.
        os.chmod(tmp_path, 0o666 & ~_umask())
        try:
            with open(tmp_path, "rb+") as f:
                os.fsync(f.fileno())
        except OSError as e:
            raise (_full_error(path, e) if _disk_full(e, path.parent) else e) from e
        os.replace(tmp_path, path)
        with contextlib.suppress(OSError):  # make the rename itself durable
            dir_fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
    finally:
        tmp_path.unlink(missing_ok=True)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
