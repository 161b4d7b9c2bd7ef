"""``--device auto``: CUDA, then Apple's MPS, then the CPU (availability monkeypatched: no Mac or GPU
is needed; the MPS path itself has not been run on a Mac)."""

import pytest
import torch

from alexnet.cli.main import main
from alexnet.device import mps_is_available, resolve_device
from alexnet.train.loop import sums_dtype


@pytest.fixture
def machine(monkeypatch):
    """Set which accelerators torch reports: machine(cuda=..., mps=...)."""
    def set_(cuda: bool, mps: bool):
        monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
        monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    return set_


@pytest.mark.parametrize("cuda, mps, want", [(True, True, "cuda:0"), (True, False, "cuda:0"),
                                             (False, True, "mps"), (False, False, "cpu")])
def test_auto_picks_cuda_then_mps_then_cpu(machine, cuda, mps, want):
    machine(cuda, mps)
    assert resolve_device("auto") == resolve_device(None) == torch.device(want)


def test_auto_under_torchrun_takes_the_local_rank_on_cuda_only(machine):
    machine(True, True)
    assert resolve_device("auto", local_rank=3) == torch.device("cuda:3")
    machine(False, True)
    assert resolve_device("auto", local_rank=3) == torch.device("mps")


def test_asking_for_a_missing_accelerator_is_a_clear_error(machine, capsys):
    machine(False, False)
    with pytest.raises(ValueError, match="cannot use an Apple GPU .MPS.*use --device cpu"):
        resolve_device("mps")
    with pytest.raises(ValueError, match="no CUDA GPU is available; use --device cpu"):
        resolve_device("cuda")
    assert resolve_device("cpu") == torch.device("cpu")
    machine(False, True)
    assert resolve_device("mps") == torch.device("mps") and mps_is_available()
    machine(False, False)
    assert main(["demo", "--device", "mps", "--out", "unused"]) == 2     # the CLI: one line, no traceback
    err = capsys.readouterr().err.strip()
    assert err.startswith("alexnet demo: error: device 'mps' requested") and len(err.splitlines()) == 1


def test_mps_has_no_float64_so_the_trainers_sums_are_float32_there():
    assert sums_dtype(torch.device("mps")) == torch.float32
    assert sums_dtype(torch.device("cpu")) == sums_dtype(torch.device("cuda", 0)) == torch.float64
