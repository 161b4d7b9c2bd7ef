"""The optimiser of a recipe: weight decay on weights only where the recipe says so, and the
biases' learning-rate multiplier.

    optimizer = build_optimizer(model, cfg)
    set_lr(optimizer, 0.001)              # every group at lr × its lr_mult

The paper's rule (SPEC §3) v ← 0.9·v − 0.0005·ε·w − ε·∂L/∂w, w ← w + v is torch's
``SGD(momentum=0.9, weight_decay=5e-4, dampening=0, nesterov=False)``: torch keeps
b ← 0.9·b + (∂L/∂w + 0.0005·w) and steps w ← w − ε·b, so v = −ε·b while ε is constant. When ε
is divided by 10 the paper's v still carries the old ε for the momentum term while torch's b
is scaled by the new one; the difference decays with 0.9^t. ``tests/test_train_recipes.py``
checks the equivalence step by step.

Biases: the paper says "an equal learning rate for all layers"; cuda-convnet2's configs
(``epsB = 2·epsW``) and Caffe (``lr_mult: 2``) learn biases at twice the rate. ``bias_lr_mult``
chooses (1 in the paper recipe, as printed); each param group carries its ``lr_mult``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..config import Config


def param_groups(model: nn.Module, weight_decay: float, decay_biases: bool,
                 bias_lr_mult: float = 1.0) -> list[dict[str, Any]]:
    """Weights (conv kernels, FC matrices) with ``weight_decay``; biases with ``weight_decay`` only
    if ``decay_biases`` and at ``bias_lr_mult`` × the rate. One group when the two agree.
    Frozen parameters are left out."""
    weights, biases = [], []
    for p in model.parameters():
        if p.requires_grad:
            (weights if p.ndim > 1 else biases).append(p)
    if decay_biases and bias_lr_mult == 1.0:
        return [{"params": weights + biases, "weight_decay": weight_decay, "lr_mult": 1.0}]
    groups = [{"params": weights, "weight_decay": weight_decay, "lr_mult": 1.0}]
    if biases:
        groups.append({"params": biases, "weight_decay": weight_decay if decay_biases else 0.0,
                       "lr_mult": float(bias_lr_mult)})
    return groups


def build_optimizer(model: nn.Module, cfg: Config) -> torch.optim.Optimizer:
    groups = param_groups(model, cfg.weight_decay, cfg.decay_biases, cfg.bias_lr_mult)
    if not any(g["params"] for g in groups):
        raise ValueError("no trainable parameters (everything is frozen)")
    make = (lambda **kw: torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, **kw)) if cfg.optimizer == "sgd" \
        else (lambda **kw: torch.optim.Adam(groups, lr=cfg.lr, **kw))
    try:
        # One fused kernel for all the parameters: the same update in fewer passes over memory (on two
        # CPU cores the paper's 64-px step is ~1% faster: benchmarks/roofline.py --lrn; GPUs gain more).
        optimizer = make(fused=True)
    except (RuntimeError, TypeError, ValueError):   # a torch or a device without the fused kernels
        optimizer = make()
    set_lr(optimizer, cfg.lr)
    return optimizer


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Every param group at ``lr × lr_mult``."""
    for group in optimizer.param_groups:
        group["lr"] = lr * group.get("lr_mult", 1.0)
