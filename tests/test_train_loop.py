"""The training loop on synthetic Fashion-MNIST files: run directory, exact resume, atomic
checkpoints, NaN stop, chance-level warning, weights file, CLI errors."""

import json
import math
import os
import signal

import pytest
import torch

from alexnet.cli.main import main as cli
from alexnet.train import checkpoint as ckpt_mod
from alexnet.train.checkpoint import load_checkpoint, save_checkpoint
from alexnet.train.loop import TrainingDiverged, TrainingStalled, at_chance_level
from alexnet.train.runner import run_training
from alexnet.weights import load_weights
from train_fixtures import tiny_config, write_fashion_idx


class NotATensor:
    """A pickled class: weights_only loading must refuse to import and build it."""


@pytest.fixture()
def fm(tmp_path, monkeypatch):
    monkeypatch.setenv("ALEXNET_CACHE", str(tmp_path / "cache"))
    return write_fashion_idx(tmp_path / "fm")


@pytest.mark.slow   # ~15 s on two CPU cores: a run of 8 steps, and the same run interrupted and resumed
def test_run_directory_and_exact_resume(fm, tmp_path, capsys):
    cfg = tiny_config(fm, epochs=2, **{"model.dropout": 0.5})   # dropout on: its RNG must resume too
    full = run_training(cfg, tmp_path / "full")
    assert full["status"] == "done" and full["step"] == 8       # 64 images / 16 = 4 steps per epoch

    def interrupt(trainer, step):
        if step == 6:                                          # mid-epoch 2: a real SIGINT
            os.kill(os.getpid(), signal.SIGINT)
    handler = signal.getsignal(signal.SIGINT)
    part = run_training(cfg, tmp_path / "part", on_step=interrupt)
    assert part["status"] == "interrupted" and (part["epoch"], part["batch"]) == (1, 2)
    assert signal.getsignal(signal.SIGINT) is handler        # the run's handler is removed again
    assert "alexnet train --resume" in capsys.readouterr().err
    assert not (tmp_path / "part" / "model.safetensors").exists()
    resumed = run_training(None, tmp_path / "part", resume=True)
    assert resumed["status"] == "done" and resumed["step"] == 8

    a, meta = load_weights(tmp_path / "full" / "model.safetensors")
    b, _ = load_weights(tmp_path / "part" / "model.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    oa = load_checkpoint(tmp_path / "full")["optimizer"]["state"]
    ob = load_checkpoint(tmp_path / "part")["optimizer"]["state"]
    for i in oa:
        assert torch.equal(oa[i]["momentum_buffer"], ob[i]["momentum_buffer"])
    # the same float32 step losses, summed in float64 in two parts around the interruption: rounding only
    assert full["history"][-1]["train_loss"] == pytest.approx(resumed["history"][-1]["train_loss"], rel=1e-9)

    run = tmp_path / "full"
    saved = json.loads((run / "config.json").read_text())
    assert saved["model"]["num_classes"] == 10 and saved["model"]["in_channels"] == 1
    events = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    steps = [e for e in events if e["event"] == "step"]
    epochs = [e for e in events if e["event"] == "epoch"]
    assert steps and {"step", "loss", "lr", "images_per_s"} <= steps[0].keys()
    assert len(epochs) == 2 and {"train_top1_error", "train_top5_error", "val_top1_error", "val_top5_error",
                                 "seconds"} <= epochs[0].keys()
    assert meta.arch == "alexnet2012" and meta.model_kwargs["input_size"] == 64
    assert len(meta.class_names) == 10 and meta.preprocessing["crop"] == 64
    assert meta.config["recipe"] == "d2l" and "val_top1_error" in meta.metrics


def test_paper_recipe_stores_the_mean_image(fm, tmp_path):
    cfg = tiny_config(fm, epochs=1, augment="paper", max_steps_per_epoch=1, weight_decay=5e-4)
    run_training(cfg, tmp_path / "run")
    _, meta = load_weights(tmp_path / "run" / "model.safetensors")
    assert meta.preprocessing["mean_image"] is True and meta.preprocessing["pixel_scale"] == 255.0
    assert tuple(meta.mean_image.shape) == (1, 28, 28)


def test_checkpoint_write_killed_midway_keeps_the_old_one(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, {"epoch": 1, "w": torch.ones(3)})

    def dying_save(obj, f, *args, **kwargs):
        with open(f, "wb") as out:
            out.write(b"half a checkpoint")
        raise KeyboardInterrupt("killed during the write")
    monkeypatch.setattr(ckpt_mod.torch, "save", dying_save)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, {"epoch": 2, "w": torch.zeros(3)})
    monkeypatch.undo()
    state = load_checkpoint(path)
    assert state["epoch"] == 1 and torch.equal(state["w"], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]


def test_checkpoint_refuses_pickled_objects(tmp_path):
    path = tmp_path / "checkpoint.pt"
    torch.save({"format": ckpt_mod.CHECKPOINT_FORMAT, "evil": NotATensor()}, path)
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        load_checkpoint(path)


@pytest.mark.slow   # ~8 s: a run of 5 steps and 2 checkpoints
def test_nan_stops_the_run_and_keeps_the_last_good_checkpoint(fm, tmp_path):
    def poison(trainer, step):
        if step == 5:                                          # second epoch
            with torch.no_grad():
                trainer.model.fc8.weight.fill_(float("nan"))
    with pytest.raises(TrainingDiverged, match="became nan.*last good checkpoint"):
        run_training(tiny_config(fm, epochs=3), tmp_path / "run", on_step=poison)
    state = load_checkpoint(tmp_path / "run")
    assert state["epoch"] == 1 and state["batch"] == 0
    assert all(torch.isfinite(v).all() for v in state["model"].values())
    assert not (tmp_path / "run" / "model.safetensors").exists()
    events = [json.loads(line)["event"] for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert "nan" in events


def test_huge_learning_rate_diverges_with_a_clear_message(fm, tmp_path):
    with pytest.raises(TrainingDiverged, match="smaller learning rate"):
        run_training(tiny_config(fm, epochs=1, lr=1e6, augment="paper"), tmp_path / "run")


def _flatten(trainer, step):   # a net that outputs equal logits, and lr 0 keeps it so
    with torch.no_grad():
        trainer.model.fc8.weight.zero_()
        trainer.model.fc8.bias.zero_()


@pytest.mark.slow   # ~7 s: a whole epoch
def test_flat_loss_at_chance_level_warns_once(fm, tmp_path, capsys, recwarn):
    assert at_chance_level(math.log(10) + 0.01, 10) and not at_chance_level(1.2, 10)
    run_training(tiny_config(fm, epochs=1, lr=1e-9), tmp_path / "run", on_step=_flatten)
    err = capsys.readouterr().err
    assert err.count("chance level") == 1 and "warning: the training loss" in err
    assert not [w for w in recwarn if "chance level" in str(w.message)]   # one mechanism: no Python warning too
    events = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    warnings = [e for e in events if e["event"] == "warning"]
    assert len(warnings) == 1 and "chance level" in warnings[0]["message"]
    assert "init" not in warnings[0]["message"]      # not the paper init's advice: this run's init is not at fault


@pytest.mark.slow   # ~7 s: a whole epoch
def test_the_printed_paper_init_stops_after_a_flat_first_epoch_and_says_what_to_set(fm, tmp_path):
    cfg = tiny_config(fm, epochs=3, lr=1e-9, **{"model.init": "paper"})
    with pytest.raises(TrainingStalled, match=r"stopped after epoch 1.*model\.init=cuda-convnet"):
        run_training(cfg, tmp_path / "run", on_step=_flatten)
    state = load_checkpoint(tmp_path / "run")
    assert state["epoch"] == 1                        # epoch 1 is saved: nothing is lost
    events = [json.loads(line)["event"] for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert "stalled" in events and "end" not in events


def test_cli_rejects_unknown_keys_and_existing_runs(fm, tmp_path, capsys):
    assert cli(["train", "--recipe", "d2l", "--data", str(fm), "--set", "lrate=1", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "'lrate'" in err and "valid keys" in err
    assert cli(["train", "--resume", str(tmp_path / "nothing")]) == 2
    assert "config.json" in capsys.readouterr().err
