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
from test_train_fixtures import tiny_config, write_fashion_idx


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
        torch.testing.assert_close(b[k], a[k], rtol=1e-4, atol=1e-6)
        changed += not torch.equal(a[k], torch.zeros_like(a[k]))
    assert changed
    assert meta.metrics["step"] == 4                           # 4 steps of 2 × 8 images
    starts = [line for line in (tmp_path / "ddp" / "log.jsonl").read_text().splitlines() if '"start"' in line]
    assert len(starts) == 1 and '"world_size": 2' in starts[0]  # only rank 0 writes the log


def test_an_epoch_covers_the_data_once_over_ranks(tmp_path, monkeypatch):
    from alexnet.data.loader import StoreLoader
    from alexnet.train.data import open_stores
    from alexnet.train.distributed import DistContext
    monkeypatch.setenv("ALEXNET_CACHE", str(tmp_path / "cache"))
    train, _, _ = open_stores(_cfg(write_fashion_idx(tmp_path / "fm")), DistContext())
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
