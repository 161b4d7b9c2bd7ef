"""Recipes, config overrides, optimiser groups, the paper's update rule, LR schedules."""

import json
import math

import pytest
import torch
from torch import nn

from alexnet.models import create
from alexnet.train.optim import build_optimizer, param_groups
from alexnet.train.recipes import load_config_file, parse_set, resolve_config
from alexnet.train.schedule import Schedule, make_schedule


def test_paper_recipe_holds_the_papers_numbers():
    cfg = resolve_config("paper")
    assert cfg["arch"] == "alexnet2012"
    assert (cfg["optimizer"], cfg["lr"], cfg["momentum"], cfg["weight_decay"]) == ("sgd", 0.01, 0.9, 5e-4)
    assert cfg["decay_biases"] is False
    assert (cfg["batch_size"], cfg["epochs"]) == (128, 90)
    assert (cfg["schedule"], cfg["lr_factor"], cfg["max_lr_drops"]) == ("plateau", 0.1, 3)
    assert (cfg["augment"], cfg["input_size"], cfg["lighting_std"]) == ("paper", 224, 0.1)
    assert cfg["model"]["init"] == "paper"
    assert resolve_config(None, {"arch": "alexnet2012"})["recipe"] == "paper"


def test_torchvision_and_d2l_recipes():
    tv = resolve_config(None, {"arch": "alexnet_owt"})
    assert tv["recipe"] == "torchvision"
    assert (tv["lr"], tv["batch_size"], tv["weight_decay"], tv["schedule"], tv["step_epochs"], tv["epochs"]) == \
        (0.01, 256, 1e-4, "step", 30, 90)
    assert tv["augment"] == "torchvision"
    d2l = resolve_config("d2l")
    assert (d2l["optimizer"], d2l["lr"], d2l["batch_size"], d2l["epochs"], d2l["augment"]) == \
        ("adam", 1e-3, 128, 5, "none")
    assert d2l["dataset"] == "fashion-mnist" and d2l["input_size"] == 224


def test_overrides_and_unknown_keys(tmp_path):
    cfg = resolve_config("paper", parse_set(["lr=0.02", "model.dropout=0", "epochs=3", "augment=none"]))
    assert cfg["lr"] == 0.02 and cfg["model"]["dropout"] == 0 and cfg["epochs"] == 3
    with pytest.raises(ValueError, match=r"'learning_rate'.*valid keys:.*\blr\b"):
        resolve_config("paper", {"learning_rate": 0.1})
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_set(["lr"])
    with pytest.raises(ValueError, match="optimizer"):
        resolve_config("paper", {"optimizer": "rmsprop"})
    with pytest.raises(ValueError, match="unknown recipe"):
        resolve_config("nope")
    f = tmp_path / "c.json"
    f.write_text(json.dumps({"epochs": 7, "model": {"dropout": 0.25}}))
    cfg = resolve_config("paper", load_config_file(f))
    assert cfg["epochs"] == 7 and cfg["model"] == {"init": "paper", "dropout": 0.25}
    t = tmp_path / "c.toml"
    t.write_text('epochs = 4\n[model]\ninit = "caffe"\n')
    assert resolve_config("paper", load_config_file(t))["model"]["init"] == "caffe"


def test_weight_decay_on_weights_not_biases():
    model = create("alexnet2012", num_classes=10, in_channels=1, input_size=64)
    groups = param_groups(model, 5e-4, decay_biases=False)
    decayed = {id(p) for p in groups[0]["params"]}
    for name, p in model.named_parameters():
        assert (id(p) in decayed) == name.endswith("weight"), name
    assert groups[0]["weight_decay"] == 5e-4 and groups[1]["weight_decay"] == 0.0
    opt = build_optimizer(model, resolve_config("paper"))
    assert [g["weight_decay"] for g in opt.param_groups] == [5e-4, 0.0]
    owt = build_optimizer(create("alexnet_owt", num_classes=10), resolve_config("torchvision"))
    assert [g["weight_decay"] for g in owt.param_groups] == [1e-4]  # torchvision decays biases too


def test_torch_sgd_equals_the_papers_update_rule():
    """SPEC §3: v ← 0.9v − 0.0005·ε·w − ε·∂L/∂w; w ← w + v, on weights; biases without decay."""
    torch.manual_seed(0)
    layer = nn.Linear(5, 3)
    w, b = layer.weight.detach().clone(), layer.bias.detach().clone()
    vw, vb = torch.zeros_like(w), torch.zeros_like(b)
    eps = 0.01
    opt = build_optimizer(layer, resolve_config("paper"))
    for _ in range(6):
        x, y = torch.randn(8, 5), torch.randint(0, 3, (8,))
        opt.zero_grad()
        nn.functional.cross_entropy(layer(x), y).backward()
        gw, gb = layer.weight.grad.clone(), layer.bias.grad.clone()
        opt.step()
        vw = 0.9 * vw - 0.0005 * eps * w - eps * gw
        vb = 0.9 * vb - eps * gb
        w, b = w + vw, b + vb
        torch.testing.assert_close(layer.weight.detach(), w, rtol=1e-5, atol=1e-7)
        torch.testing.assert_close(layer.bias.detach(), b, rtol=1e-5, atol=1e-7)


def test_plateau_divides_by_ten_at_the_right_epochs_at_most_three_times():
    s = Schedule("plateau", 0.01, factor=0.1, patience=2, min_delta=0.001, max_drops=3)
    # A drop after 2 epochs without an improvement of at least 0.001 (0.6995 after 0.6 is none);
    # epoch 5 improves and restarts the count; no fourth drop however long the curve stays flat.
    curve = [0.9, 0.8, 0.7, 0.7, 0.7, 0.6, 0.6, 0.6995, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6]
    lrs = []
    for epoch, err in enumerate(curve):
        s.epoch_end(epoch, err)
        lrs.append(s.lr)
    assert s.drop_epochs == [4, 7, 9]
    assert s.drops == 3
    expected = [0.01] * 4 + [1e-3] * 3 + [1e-4] * 2 + [1e-5] * 6
    assert all(math.isclose(a, e) for a, e in zip(lrs, expected)), lrs
    restored = Schedule("plateau", 0.01, patience=2)
    restored.load_state_dict(s.state_dict())
    assert restored.state_dict() == s.state_dict()
    assert make_schedule(resolve_config("paper")).patience == 5


def test_step_schedule_every_30_epochs():
    s = make_schedule(resolve_config("torchvision"))
    lrs = []
    for epoch in range(90):
        lrs.append(s.lr)
        s.epoch_end(epoch, None)
    assert lrs[0] == lrs[29] == 0.01
    assert math.isclose(lrs[30], 1e-3) and math.isclose(lrs[59], 1e-3) and math.isclose(lrs[60], 1e-4)
