"""Faults of a training run (docs/FAULTS.md): two runs into one directory, --resume with a new
--lr, a full disk, resume-if-present, messages that quote the rate a step really had."""

import errno
import json

import pytest
import torch

from alexnet.cli.main import main as cli
from alexnet.train.runner import run_training
from train_fixtures import tiny_config, write_fashion_idx


@pytest.fixture()
def fm(tmp_path, monkeypatch):
    monkeypatch.setenv("ALEXNET_CACHE", str(tmp_path / "cache"))
    return write_fashion_idx(tmp_path / "fm")


def test_second_training_into_a_busy_run_directory_is_refused(fm, tmp_path):
    from alexnet.lock import Busy
    cfg = tiny_config(fm, epochs=1, max_steps_per_epoch=2)
    seen = []

    def second(trainer, step):
        if step == 1:
            with pytest.raises(Busy) as e:
                run_training(cfg, tmp_path / "run")
            seen.append(str(e.value))
    assert run_training(cfg, tmp_path / "run", on_step=second)["status"] == "done"
    assert seen and "is in use by pid" in seen[0] and "choose another --out" in seen[0]
    starts = [json.loads(x)["event"] for x in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert starts.count("start") == 1 and starts.count("end") == 1
