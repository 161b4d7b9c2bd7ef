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


def step_lrs(run):
    events = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()]
    return [(e["epoch"], e["lr"]) for e in events if e["event"] == "step"]


@pytest.mark.slow   # ~20 s each on two busy CPU cores: a 2-step run and its resume
@pytest.mark.parametrize("schedule", ["constant", "plateau", "step"])
def test_resume_with_a_new_lr_trains_at_it(schedule, fm, tmp_path):
    cfg = tiny_config(fm, epochs=1, max_steps_per_epoch=2, schedule=schedule, lr=0.01)
    run = tmp_path / "run"
    run_training(cfg, run)
    assert cli(["train", "--resume", str(run), "--epochs", "2", "--lr", "0.0001"]) == 0
    lrs = step_lrs(run)
    assert [lr for e, lr in lrs if e == 0] == [0.01] and [lr for e, lr in lrs if e == 1] == [pytest.approx(1e-4)]
    assert json.loads((run / "config.json").read_text())["lr"] == 0.0001


def test_rebase_keeps_the_step_schedule_s_later_drops():
    from alexnet.train.schedule import Schedule
    s = Schedule("step", 0.1, factor=0.1, step_epochs=2)
    s.load_state_dict({**s.state_dict(), "lr": 0.01})      # a checkpoint after one drop
    s.rebase(0.5, previous_lr=0.1)
    assert s.lr == 0.5
    s.epoch_end(2)
    assert s.lr == pytest.approx(0.5)         # epoch 3 still in the second period (one drop)
    s.epoch_end(3)
    assert s.lr == pytest.approx(0.05)        # the next drop is relative to the new rate


def test_divergence_message_quotes_the_rate_of_the_step(fm, tmp_path):
    from alexnet.train.loop import TrainingDiverged

    def poison(trainer, step):
        if step == 2:
            with torch.no_grad():
                trainer.model.fc8.weight.fill_(float("nan"))
    # warm-up: step t (1-based) runs at 0.01 * t / 100; the NaN of step 3 is seen at the check after step 4
    cfg = tiny_config(fm, epochs=1, lr=0.01, warmup_steps=100, max_steps_per_epoch=4)
    with pytest.raises(TrainingDiverged) as e:
        run_training(cfg, tmp_path / "run", on_step=poison)
    assert "at step 4 (epoch 1) with lr 0.0004;" in str(e.value)


def test_chance_level_warning_quotes_the_warm_up_rate(fm):
    from alexnet.train.loop import chance_level_message
    cfg = tiny_config(fm, lr=0.01, warmup_steps=100)
    text, stop = chance_level_message(cfg, 2.30, 10, step_lr=0.0002)
    assert "0.0002" in text and "warm-up" in text and not stop
