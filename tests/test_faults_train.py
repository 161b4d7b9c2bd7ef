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
    from alexnet.recipes import chance_level_advice
    cfg = tiny_config(fm, lr=0.01, warmup_steps=100)
    text, stop = chance_level_advice(cfg, 2.30, 10, step_lr=0.0002)
    assert "0.0002" in text and "warm-up" in text and not stop


def test_full_disk_names_the_file_and_keeps_the_last_checkpoint(fm, tmp_path, monkeypatch, capsys):
    from alexnet.train import checkpoint
    real, calls = torch.save, []

    def full_on_the_second(obj, f, *a, **kw):     # epoch 1's checkpoint is written, epoch 2's finds the disk full
        calls.append(f)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(obj, f, *a, **kw)
    monkeypatch.setattr(checkpoint.torch, "save", full_on_the_second)
    run = tmp_path / "run"
    cfg = tiny_config(fm, epochs=2, max_steps_per_epoch=1)
    (tmp_path / "cfg.json").write_text(json.dumps(cfg.to_dict()))
    assert cli(["train", "--config", str(tmp_path / "cfg.json"), "--out", str(run)]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "Traceback" not in err and f"{run / 'checkpoint.pt'} was not written: the disk is full" in err
    assert "previous version is intact" in err and f"alexnet train --resume {run}" in err
    from alexnet.train.checkpoint import load_checkpoint
    assert load_checkpoint(run)["epoch"] == 1                 # epoch 1's checkpoint, whole
    assert not list(run.glob(".tmp-*"))


def test_full_disk_while_writing_the_weights(fm, tmp_path, monkeypatch):
    from alexnet.atomic import DiskFull
    from alexnet.weights import format as weights

    def full(*a, **kw):
        raise RuntimeError("Error while serializing: I/O error: No space left on device (os error 28)")
    monkeypatch.setattr(weights, "save_file", full)
    with pytest.raises(DiskFull) as e:
        run_training(tiny_config(fm, epochs=1, max_steps_per_epoch=1), tmp_path / "run")
    assert "model.safetensors was not written: the disk is full" in str(e.value)
    assert "the last checkpoint" in str(e.value) and "is intact" in str(e.value)


@pytest.mark.slow   # ~40 s: a one-epoch run, then its second epoch on a real full disk (a small tmpfs; needs root)
def test_full_tmpfs_when_the_second_checkpoint_is_written(fm, tmp_path):
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path
    run = tmp_path / "run"
    cfg = tiny_config(fm, epochs=1, max_steps_per_epoch=1, **{"model.towers": 1})
    run_training(cfg, run)
    disk = tmp_path / "disk"
    disk.mkdir()
    used = sum(p.stat().st_size for p in run.rglob("*") if p.is_file())
    ckpt = (run / "checkpoint.pt").stat().st_size
    # room for the run and half a checkpoint: the atomic write of the next one cannot fit
    size_kib = (used + ckpt // 2) // 1024
    if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kib}k", "tmpfs", str(disk)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        shutil.copytree(run, disk / "run")
        before = (disk / "run" / "checkpoint.pt").read_bytes()
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
        proc = subprocess.run([sys.executable, "-m", "alexnet", "train", "--resume", str(disk / "run"), "--epochs", "2"],
                              env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 2, proc.stderr[-2000:]
        last = proc.stderr.strip().splitlines()[-1]
        assert "Traceback" not in proc.stderr and "checkpoint.pt was not written: the disk is full" in last, last
        assert "is intact" in last and "--resume" in last
        assert (disk / "run" / "checkpoint.pt").read_bytes() == before
        assert not list((disk / "run").glob(".tmp-*"))
    finally:
        subprocess.run(["umount", str(disk)])


def test_steps_a_resume_trained_again_leave_the_curves(tmp_path):
    from alexnet.train.curves import read_log
    # a run killed (-9) after step 6, its last checkpoint at step 4 (epoch 1's end), resumed there
    lines = [{"event": "start", "step": 0}, {"event": "step", "step": 2, "epoch": 0, "loss": 2.0},
             {"event": "step", "step": 4, "epoch": 0, "loss": 1.8}, {"event": "epoch", "step": 4, "epoch": 0},
             {"event": "step", "step": 6, "epoch": 1, "loss": 1.7},
             {"event": "resume", "step": 4}, {"event": "step", "step": 6, "epoch": 1, "loss": 1.6},
             {"event": "step", "step": 8, "epoch": 1, "loss": 1.5}, {"event": "epoch", "step": 8, "epoch": 1}]
    (tmp_path / "log.jsonl").write_text("".join(json.dumps({"time": "t", **x}) + "\n" for x in lines))
    epochs, intervals = read_log(tmp_path)
    assert [r["step"] for r in intervals] == [2, 4, 6, 8] and intervals[2]["loss"] == 1.6   # no line back in time
    assert [r["epoch"] for r in epochs] == [1, 2]


def test_full_disk_while_logging_is_one_line(tmp_path):
    from alexnet.atomic import DiskFull
    from alexnet.jsonl import JsonlWriter
    log = JsonlWriter(tmp_path / "log.jsonl")
    log.write("start")

    class Full:
        def write(self, text):
            raise OSError(errno.ENOSPC, "No space left on device")

        def close(self):
            pass
    log._file = Full()
    with pytest.raises(DiskFull, match="log.jsonl: a line of the log was not written: the disk is full"):
        log.write("step", loss=1.0)
    assert json.loads((tmp_path / "log.jsonl").read_text())["event"] == "start"
