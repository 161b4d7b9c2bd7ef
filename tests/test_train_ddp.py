"""DDP on the CPU (gloo, two processes): batch B/2 on each of two ranks gives the weights of one
process with batch B, and an epoch covers the data set once."""

import os
import socket

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from alexnet.train.runner import run_training
from alexnet.weights import load_weights
from train_fixtures import tiny_config, write_fashion_idx


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, cfg: dict, run_dir: str) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    run_training(cfg, run_dir)


def _cfg(fm):
    # No dropout, no random augmentation: the two runs must see the same numbers.
    return tiny_config(fm, epochs=1, augment="none", **{"model.dropout": 0.0})


@pytest.mark.slow   # ~13 s: a one-process run, then two spawned gloo ranks
def test_two_ranks_match_one_process(tmp_path, monkeypatch):
    monkeypatch.setenv("ALEXNET_CACHE", str(tmp_path / "cache"))
    fm = write_fashion_idx(tmp_path / "fm")
    single = run_training(_cfg(fm), tmp_path / "single")
    assert single["step"] == 4
    mp.spawn(_worker, args=(2, _free_port(), _cfg(fm), str(tmp_path / "ddp")), nprocs=2, join=True)
    a, _ = load_weights(tmp_path / "single" / "model.safetensors")
    b, meta = load_weights(tmp_path / "ddp" / "model.safetensors")
    changed = 0
    for k in a:
        # Two batches of 8 plus an all-reduce sum the gradients in another order (and the CPU's conv
        # kernels pick other paths for another batch size) than one batch of 16: after 4 float32 SGD
        # steps the weights (init std 0.01–0.03) agreed to ≤ 4.3e-6 here; 2e-5 is 0.2% of the smallest std.
        torch.testing.assert_close(b[k], a[k], rtol=1e-4, atol=2e-5)
        changed += not torch.equal(a[k], torch.zeros_like(a[k]))
    assert changed
    assert meta.metrics["step"] == 4                           # 4 steps of 2 × 8 images
    starts = [line for line in (tmp_path / "ddp" / "log.jsonl").read_text().splitlines() if '"start"' in line]
    assert len(starts) == 1 and '"world_size": 2' in starts[0]  # only rank 0 writes the log


def test_an_epoch_covers_the_data_once_over_ranks(tmp_path, monkeypatch):
    from alexnet.data.loader import StoreLoader
    from alexnet.data.open import open_data
    monkeypatch.setenv("ALEXNET_CACHE", str(tmp_path / "cache"))
    train = open_data(write_fashion_idx(tmp_path / "fm")).train
    for epoch in (0, 1):
        parts = [StoreLoader(train, 8, shuffle=True, seed=0, rank=r, world_size=2, drop_last=True,
                             workers=0).epoch_indices(epoch) for r in (0, 1)]
        joined = np.concatenate(parts)
        assert len(joined) == len(train) and sorted(joined.tolist()) == list(range(len(train)))


@pytest.mark.parametrize("world,batch", [(3, 16)])
def test_batch_must_split_evenly(tmp_path, monkeypatch, world, batch):
    from alexnet.train.data import build_data
    from alexnet.train.distributed import DistContext
    monkeypatch.setenv("ALEXNET_CACHE", str(tmp_path / "cache"))
    cfg = tiny_config(write_fashion_idx(tmp_path / "fm"), batch_size=batch)
    with pytest.raises(ValueError, match="not divisible"):
        build_data(cfg, DistContext(rank=0, world_size=world))
