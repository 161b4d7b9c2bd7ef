"""Atomic writes: all or nothing, with the mode a new file normally gets."""

import os

import pytest
import torch
from safetensors.torch import save_file

from alexnet.atomic import atomic_path


def test_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "checkpoint.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("killed mid-write")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.bin"]


def test_written_files_get_the_umask_mode_even_from_safetensors(tmp_path):
    mask = os.umask(0o022)
    try:
        with atomic_path(tmp_path / "a.bin") as tmp:
            tmp.write_bytes(b"x")
        with atomic_path(tmp_path / "m.safetensors") as tmp:
            save_file({"w": torch.zeros(2)}, str(tmp))
    finally:
        os.umask(mask)
    assert oct((tmp_path / "a.bin").stat().st_mode & 0o777) == oct(0o644)
    assert oct((tmp_path / "m.safetensors").stat().st_mode & 0o777) == oct(0o644)
