"""Recipes, the typed config and its overrides, optimiser groups, the paper's update rule, LR schedules."""

import dataclasses
import json
import math

import pytest
import torch
from torch import nn

from alexnet.config import Config, load_config_file, parse_set
from alexnet.recipes import resolve_config
from alexnet.models import create
from alexnet.train.optim import build_optimizer, param_groups, set_lr
from alexnet.train.schedule import Schedule, check_schedule, make_schedule


def test_paper_recipe_holds_the_papers_numbers():
    cfg = resolve_config("paper")
    assert cfg.arch == "alexnet2012"
    assert (cfg.optimizer, cfg.lr, cfg.momentum, cfg.weight_decay) == ("sgd", 0.01, 0.9, 5e-4)
    assert cfg.decay_biases is False and cfg.bias_lr_mult == 1.0       # "an equal learning rate for all layers"
    assert (cfg.batch_size, cfg.epochs) == (128, 90)
    assert (cfg.schedule, cfg.lr_factor, cfg.max_lr_drops) == ("plateau", 0.1, 3)
    assert (cfg.augment, cfg.input_size, cfg.lighting_std) == ("paper", 224, 0.1)
    # where the paper is silent or does not train, Krizhevsky's code (docs/SPEC.md)
    assert dict(cfg.model) == {"init": "cuda-convnet", "lrn_alpha": "cuda-convnet", "lrn_per_tower": True}
    assert cfg.lighting_scale == "cuda-convnet2"
    assert cfg.warmup_steps == 100      # our one addition: a linear warm-up over the first 100 steps (config.py)
    assert resolve_config(None, {"arch": "alexnet2012"}).recipe == "paper"


def test_torchvision_and_d2l_recipes():
    tv = resolve_config(None, {"arch": "alexnet_owt"})
    assert tv.recipe == "torchvision"
    assert (tv.lr, tv.batch_size, tv.weight_decay, tv.schedule, tv.step_epochs, tv.epochs) == \
        (0.01, 256, 1e-4, "step", 30, 90)
    assert tv.augment == "torchvision" and tv.decay_biases
    d2l = resolve_config("d2l")
    assert (d2l.arch, d2l.optimizer, d2l.lr, d2l.batch_size, d2l.epochs, d2l.augment) == \
        ("alexnet_d2l", "adam", 1e-3, 128, 5, "none")
    assert d2l.dataset == "fashion-mnist" and d2l.input_size == 224 and d2l.weight_decay == 0
    assert resolve_config(None, {"arch": "alexnet_d2l"}).recipe == "d2l"
    # a recipe on another arch keeps its training numbers, not its model arguments
    other = resolve_config("paper", arch="alexnet_owt")
    assert other.arch == "alexnet_owt" and dict(other.model) == {} and other.lr == 0.01


def test_overrides_and_unknown_keys(tmp_path):
    cfg = resolve_config("paper", parse_set(["lr=0.02", "model.dropout=0", "epochs=3", "augment=none"]))
    assert cfg.lr == 0.02 and cfg.model["dropout"] == 0 and cfg.epochs == 3
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
    assert cfg.epochs == 7 and cfg.model["dropout"] == 0.25 and cfg.model["init"] == "cuda-convnet"
    t = tmp_path / "c.toml"
    t.write_text('epochs = 4\n[model]\ninit = "caffe"\n')
    assert resolve_config("paper", load_config_file(t)).model["init"] == "caffe"


@pytest.mark.parametrize("key, value, message", [
    ("channels_last", "yes", "channels_last='yes'.*true or false or \"auto\""),
    ("compile", 1, "compile=1.*true or false"),
    ("workers", -1, "workers=-1 must be ≥ 0"),
    ("seed", 1.5, "seed=1.5.*an integer"),
    ("plateau_patience", 0, "plateau_patience=0 must be ≥ 1"),
    ("step_epochs", "30", "step_epochs='30'.*an integer"),
    ("max_steps_per_epoch", True, "max_steps_per_epoch=True.*an integer"),
    ("lr", float("nan"), "lr=nan"),
    ("momentum", 1.0, "momentum=1.0 must be < 1.0"),
    ("lighting_scale", "levels", "lighting_scale='levels'"),
    ("model.towers", 3, "model.towers=3.*1 or 2"),
    ("model.init", "xavier", "model.init='xavier'"),
    ("model.dropout", "half", "model.dropout='half'.*a number"),
    ("model.width", 2, "model.width is not an argument of alexnet2012"),
])
def test_every_key_is_checked_from_its_type(key, value, message):
    with pytest.raises(ValueError, match=message):
        resolve_config("paper", {key: value})


def test_the_config_is_frozen_and_round_trips_through_json():
    cfg = resolve_config("paper", {"model.dropout": 0.3, "lr": 1})
    assert cfg.lr == 1.0 and isinstance(cfg.lr, float)          # an integer where a float is asked
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.lr = 0.5
    with pytest.raises(TypeError):
        cfg.model["dropout"] = 0.1                                 # model arguments are read-only too
    again = Config.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg and again.updated({"model.dropout": 0.1}).model["dropout"] == 0.1
    with pytest.raises(ValueError, match="unknown config key.*'lrate'"):
        Config.from_dict({**cfg.to_dict(), "lrate": 1})


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


def test_the_bias_learning_rate_multiplier_is_a_param_group_of_its_own():
    model = create("alexnet2012", num_classes=10, in_channels=1, input_size=64)
    opt = build_optimizer(model, resolve_config("paper", {"bias_lr_mult": 2.0}))
    weights, biases = opt.param_groups
    assert all(p.ndim > 1 for p in weights["params"]) and all(p.ndim == 1 for p in biases["params"])
    assert (weights["lr"], biases["lr"]) == (0.01, 0.02) and biases["weight_decay"] == 0.0
    set_lr(opt, 0.001)                                  # a schedule's drop keeps the ratio
    assert (weights["lr"], biases["lr"]) == pytest.approx((0.001, 0.002))   # 0.001 × 2 in float64: rounding only
    # and the step really moves the biases twice as far as lr alone would (plain SGD, no momentum)
    layer = torch.nn.Linear(3, 2)
    opt = build_optimizer(layer, resolve_config("paper", {"bias_lr_mult": 2.0, "momentum": 0.0, "weight_decay": 0}))
    b0 = layer.bias.detach().clone()
    layer(torch.ones(1, 3)).sum().backward()
    g = layer.bias.grad.clone()
    opt.step()
    torch.testing.assert_close(layer.bias.detach(), b0 - 0.02 * g)   # float32 default: SGD's addition order, ulps


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
        # float32, the paper's form (v includes ε) vs torch's (ε applied after the momentum): ulps of
        # weights ~0.3, ≤ 7.5e-9 after 6 steps; leaving out the weight decay alone is off by 2e-6 after one
        torch.testing.assert_close(layer.weight.detach(), w, rtol=1e-6, atol=1e-7)
        torch.testing.assert_close(layer.bias.detach(), b, rtol=1e-6, atol=1e-7)


def _optimizer(lr=0.01, bias_mult=2.0):
    """Two groups as the recipes make them: weights at lr, biases at lr × bias_mult."""
    w, b = nn.Parameter(torch.zeros(2, 2)), nn.Parameter(torch.zeros(2))
    opt = torch.optim.SGD([{"params": [w], "lr_mult": 1.0}, {"params": [b], "lr_mult": bias_mult}], lr=lr)
    set_lr(opt, lr)
    return opt


def _schedule(kind, total=100, warmup=0, lr=0.01, **kw):
    opt = _optimizer(lr)
    return opt, Schedule(opt, kind, total_steps=total, warmup_steps=warmup, **kw)


def _run(opt, sched, per_epoch, epochs, val=lambda e: None):
    """The rates (weights' group, biases' group) every step ran at."""
    rates = []
    for epoch in range(epochs):
        for _ in range(per_epoch):
            rates.append((opt.param_groups[0]["lr"], opt.param_groups[1]["lr"]))
            opt.step()
            sched.step_end()
        sched.epoch_end(epoch, val(epoch))
    return rates


def reference_rate(kind, step, epoch, *, lr, total, warmup, factor=0.1, step_epochs=30):
    """The closed forms of the hand-written schedules this project had before torch's schedulers."""
    rate = lr * factor ** (epoch // step_epochs) if kind == "step" else lr
    if kind == "linear" and step >= warmup:
        rate = lr * max(0.0, (total - step) / max(1, total - warmup))
    return rate * ((step + 1) / warmup if 0 < warmup and step < warmup else 1.0)


@pytest.mark.parametrize("kind, warmup", [("step", 0), ("step", 7), ("linear", 0), ("linear", 10),
                                          ("constant", 5), ("plateau", 4)])
def test_every_steps_rate_is_the_closed_form(kind, warmup):
    """torch's LinearLR/StepLR/SequentialLR give each step the rate of the old closed forms (to float
    rounding: they multiply step by step, ~1e-16 per step over 100 steps), the biases at 2×."""
    per_epoch, epochs = 10, 10
    opt, sched = _schedule(kind, total=per_epoch * epochs, warmup=warmup, step_epochs=3)
    rates = _run(opt, sched, per_epoch, epochs)
    for s, (w, b) in enumerate(rates):
        expected = reference_rate(kind, s, s // per_epoch, lr=0.01, total=per_epoch * epochs, warmup=warmup,
                                  step_epochs=3)
        assert w == pytest.approx(expected, rel=1e-12, abs=1e-18) and b == pytest.approx(2 * expected, rel=1e-12,
                                                                                           abs=1e-18), s


def test_a_resumed_schedule_continues_with_exactly_the_uninterrupted_rates():
    whole_opt, whole = _schedule("linear", total=60, warmup=8)
    whole_rates = _run(whole_opt, whole, 10, 6)
    first_opt, first = _schedule("linear", total=60, warmup=8)
    rates = _run(first_opt, first, 10, 3)
    opt, resumed = _schedule("linear", total=60, warmup=8)      # a new process: built, then restored
    opt.load_state_dict(first_opt.state_dict())
    resumed.load_state_dict(first.state_dict())
    for epoch in range(3, 6):
        for _ in range(10):
            rates.append((opt.param_groups[0]["lr"], opt.param_groups[1]["lr"]))
            opt.step()
            resumed.step_end()
        resumed.epoch_end(epoch, None)
    assert rates == whole_rates   # bit for bit


def test_plateau_divides_by_ten_at_the_right_epochs_at_most_three_times():
    opt, s = _schedule("plateau", factor=0.1, patience=2, min_delta=0.001, max_drops=3)
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
    assert all(math.isclose(a, e) for a, e in zip(lrs, expected)), lrs   # 0.01 × 0.1 × 0.1: float64 rounding
    assert opt.param_groups[1]["lr"] == pytest.approx(2e-5, rel=1e-12)  # the biases' group drops with it
    _, restored = _schedule("plateau", patience=2)
    restored.load_state_dict(s.state_dict())
    assert restored.state_dict() == s.state_dict()
    assert make_schedule(resolve_config("paper"), _optimizer(), 10).patience == 5


def test_plateau_patience_is_counted_in_epochs_when_validating_every_few_epochs():
    """eval_every=2, patience 5: validations at epochs 1, 3, 5, 7, ... (0-based). The best is at
    epoch 1; the drop comes at the first validation ≥ 5 epochs later (epoch 7), not after 5 of them."""
    _, s = _schedule("plateau", patience=5, min_delta=0.0)
    for epoch in range(12):
        s.epoch_end(epoch, (0.5 if epoch == 1 else 0.6) if epoch % 2 == 1 else None)
    assert s.drop_epochs == [7]
    _, every = _schedule("plateau", patience=5, min_delta=0.0)
    for epoch in range(12):
        every.epoch_end(epoch, 0.5 if epoch == 1 else 0.6)
    assert every.drop_epochs == [6, 11]               # validated every epoch: 5 epochs after epoch 1, then 5 more


def test_plateau_without_validation_data_is_refused_before_training():
    with pytest.raises(ValueError, match=r"no validation split.*90 epochs at lr 0.01.*schedule=step"):
        check_schedule(resolve_config("paper"), has_validation=False, where="ImageFolder x")
    check_schedule(resolve_config("paper"), has_validation=True, where="x")
    check_schedule(resolve_config("paper", {"schedule": "step"}), has_validation=False, where="x")


def test_step_schedule_every_30_epochs():
    opt, s = _schedule("step", step_epochs=30)
    lrs = []
    for epoch in range(90):
        lrs.append(s.lr)
        opt.step()
        s.epoch_end(epoch, None)
    assert lrs[0] == lrs[29] == 0.01
    # 0.01 × 0.1 (× 0.1) in float64: isclose's rel 1e-9 covers the rounding
    assert math.isclose(lrs[30], 1e-3) and math.isclose(lrs[59], 1e-3) and math.isclose(lrs[60], 1e-4)
    assert s.drop_epochs == [29, 59, 89]


def test_rebase_on_resume_runs_the_next_step_at_the_new_rate():
    opt, s = _schedule("step", step_epochs=2)
    _run(opt, s, 3, 3)                               # one drop behind it: 0.001
    s.rebase(0.0005, previous_lr=0.01)
    assert s.lr == pytest.approx(0.0005) and opt.param_groups[1]["lr"] == pytest.approx(0.001)
    s.epoch_end(3, None)                             # the next drop is relative to the new rate
    assert s.lr == pytest.approx(0.00005)
    opt, lin = _schedule("linear", total=100)
    _run(opt, lin, 10, 5)                            # half way down the line: 0.005
    lin.rebase(0.02, previous_lr=0.01)               # the line from 0.02 instead of 0.01
    assert lin.lr == pytest.approx(0.01, rel=1e-9)
