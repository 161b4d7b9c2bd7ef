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


WRITER = """
import sys, torch
from alexnet.train.checkpoint import save_checkpoint
path = sys.argv[1]
print("ready", flush=True)
i = 1
while True:   # rewrite a 32 MB checkpoint until killed
    save_checkpoint(path, {"version": i, "w": torch.full((8 * 1024 * 1024,), float(i))})
    i += 1
"""


@pytest.mark.slow   # ~8 s: four writer subprocesses killed at random moments
def test_checkpoint_survives_sigkill_during_save(tmp_path):
    """A process SIGKILLed at random moments while rewriting its checkpoint always leaves a whole one."""
    import random
    import signal
    import subprocess
    import sys
    import time

    from alexnet.train.checkpoint import load_checkpoint, save_checkpoint

    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, {"version": 0, "w": torch.zeros(8 * 1024 * 1024)})
    rng = random.Random(0)
    versions = []
    for _ in range(4):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.05, 0.6))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        state = load_checkpoint(path)           # whole, never torn
        assert torch.all(state["w"] == float(state["version"]))
        versions.append(state["version"])
    assert max(versions) > 0, "the writer never finished a save; the test did not exercise a kill mid-write"
