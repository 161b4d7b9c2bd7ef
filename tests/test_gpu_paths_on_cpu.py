"""The code that only runs on CUDA, exercised on the CPU.

- StoreLoader's GPU-decoding path (decode_device "cuda"), with torchvision's decoder called on the
  CPU through the same signature, must give the CPU path's batches, in the same order;
- train_step and a whole run with bf16 autocast and channels_last (what amp/channels_last "auto"
  choose on CUDA);
- build_data gives the loaders the rank's own GPU (cuda:N), not the current device;
- the benchmarks' CUDA Timer records its events on its device's stream.
"""

from __future__ import annotations

import pytest
import torch

import data_fixtures as fx
from alexnet.data.loader import StoreLoader
from train_fixtures import tiny_config, write_fashion_idx


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return fx.small_store(tmp_path_factory.mktemp("gpu_paths"))


@pytest.mark.parametrize("workers", [0, 2])
def test_gpu_decode_path_gives_the_cpu_path_batches(store, monkeypatch, workers):
    import torchvision.io

    real = torchvision.io.decode_jpeg
    calls, syncs = [], []

    def decode_on_cpu(input, mode=torchvision.io.ImageReadMode.UNCHANGED, device="cpu",
                      apply_exif_orientation=False):
        # what StoreLoader must pass to decode_jpeg(list, device="cuda")
        assert isinstance(input, list) and input
        assert all(t.dtype == torch.uint8 and t.ndim == 1 and t.device.type == "cpu" for t in input)
        calls.append((len(input), mode, torch.device(device)))
        out = real(input, mode=mode, device="cpu")          # the real function, list in → list out
        assert isinstance(out, list) and len(out) == len(input)
        return out

    monkeypatch.setattr(torchvision.io, "decode_jpeg", decode_on_cpu)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: syncs.append(device))
    for drop_last, start in ((False, 0), (True, 1)):
        cpu = StoreLoader(store, 4, seed=5, drop_last=drop_last, workers=workers, decoder="pil")
        gpu = StoreLoader(store, 4, seed=5, drop_last=drop_last, workers=workers, decoder="pil")
        gpu.decode_device = "cuda"                          # what device="cuda" picks for a JPEG store
        cpu.set_epoch(3, start)
        gpu.set_epoch(3, start)
        a, b = list(cpu), list(gpu)
        assert len(a) == len(b) == len(cpu) - start
        for (xa, ya), (xb, yb) in zip(a, b):
            assert torch.equal(ya, yb)
            assert xb.dtype == torch.uint8 and xb.shape == xa.shape == (len(ya), 3, 64, 64)
            assert torch.equal(xa, xb)                      # libjpeg either way on the CPU
    assert len(calls) == len(syncs) > 0                     # one decode and one synchronize per batch
    assert all(mode == torchvision.io.ImageReadMode.RGB and dev == torch.device("cpu")
               for _, mode, dev in calls)
    assert all(d == torch.device("cpu") for d in syncs)     # the loader's device


@pytest.mark.parametrize("arch", ["alexnet2012", "alexnet_owt"])
def test_train_step_bf16_and_channels_last(arch):
    from alexnet.models import create
    from alexnet.train.loop import train_step

    kwargs = {"num_classes": 7, "dropout": 0.0, **({"input_size": 64} if arch == "alexnet2012" else {})}
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 3, 64, 64, generator=g)
    y = torch.randint(0, 7, (4,), generator=g)
    losses = {}
    for amp in (None, torch.bfloat16):
        for cl in (False, True):
            torch.manual_seed(0)
            model = create(arch, **kwargs)
            if cl:
                model = model.to(memory_format=torch.channels_last)
            before = [p.detach().clone() for p in model.parameters()]
            opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
            r = train_step(model, x, y, opt, lambda t, generator=None: t, amp_dtype=amp, channels_last=cl)
            assert r.loss.dtype == torch.float32 and torch.isfinite(r.loss) and r.count == 4
            assert 0 <= int(r.correct1) <= int(r.correct5) <= 4
            assert all(p.grad is not None for p in model.parameters())
            assert any(not torch.equal(a, p) for a, p in zip(before, model.parameters()))
            losses[amp, cl] = float(r.loss)
    assert losses[None, True] == pytest.approx(losses[None, False], rel=1e-5)
    assert losses[torch.bfloat16, True] == pytest.approx(losses[None, False], rel=0.05)


def test_run_with_bf16_and_channels_last(tmp_path, monkeypatch):
    from alexnet.train.runner import run_training
    from alexnet.weights import load_weights

    monkeypatch.setenv("ALEXNET_CACHE", str(tmp_path / "cache"))
    cfg = tiny_config(write_fashion_idx(tmp_path / "fm"), epochs=1, amp="bf16", channels_last=True,
                      augment="paper", max_steps_per_epoch=2)
    out = run_training(cfg, tmp_path / "run")
    assert out["status"] == "done"
    record = out["history"][-1]
    assert all(torch.isfinite(torch.tensor(record[k])) for k in ("train_loss", "val_loss"))
    tensors, _ = load_weights(tmp_path / "run" / "model.safetensors")   # channels_last params saved
    assert tensors["features.conv1.weight"].is_contiguous()


def test_build_data_puts_the_loaders_on_the_ranks_gpu(tmp_path, monkeypatch):
    from alexnet.train.data import build_data
    from alexnet.train.distributed import DistContext

    monkeypatch.setenv("ALEXNET_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)   # nothing touches the GPU here
    cfg = tiny_config(write_fashion_idx(tmp_path / "fm"), epochs=1)
    data = build_data(cfg, DistContext(device=torch.device("cuda", 1)))
    assert data.train_loader.device == data.val_loader.device == torch.device("cuda", 1)


def test_cuda_timer_records_on_its_devices_stream(monkeypatch):
    import importlib
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    try:
        common = importlib.import_module("common")
    finally:
        sys.path.pop(0)
    recorded, synced = [], []

    class FakeEvent:
        def __init__(self, enable_timing=False):
            assert enable_timing

        def record(self, stream=None):
            recorded.append(stream)

        def elapsed_time(self, end):
            return 250.0

    monkeypatch.setattr(torch.cuda, "Event", FakeEvent)
    monkeypatch.setattr(torch.cuda, "current_stream", lambda device=None: ("stream", device))
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: synced.append(device))
    with common.Timer("cuda:1") as t:
        pass
    assert t.seconds == 0.25
    assert recorded == [("stream", torch.device("cuda", 1))] * 2
    assert synced == [torch.device("cuda", 1)] * 2
