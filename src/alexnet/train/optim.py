"""The optimiser of a recipe, with weight decay on weights only where the recipe says so.

    optimizer = build_optimizer(model, cfg)

The paper's rule (SPEC §3) v ← 0.9·v − 0.0005·ε·w − ε·∂L/∂w, w ← w + v is torch's
``SGD(momentum=0.9, weight_decay=5e-4, dampening=0, nesterov=False)``: torch keeps
b ← 0.9·b + (∂L/∂w + 0.0005·w) and steps w ← w − ε·b, so v = −ε·b while ε is constant. When ε
is divided by 10 the paper's v still carries the old ε for the momentum term while torch's b
is scaled by the new one; the difference decays with 0.9^t. ``tests/test_train_recipes.py``
checks the equivalence step by step.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


def param_groups(model: nn.Module, weight_decay: float, decay_biases: bool) -> list[dict[str, Any]]:
    """Two groups: weights (conv kernels, FC matrices) with ``weight_decay``; biases with
    ``weight_decay`` only if ``decay_biases``. Frozen parameters are left out."""
    decay, no_decay = [], []
    for _, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (decay if p.ndim > 1 or decay_biases else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": weight_decay}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    return groups


def build_optimizer(model: nn.Module, cfg: dict[str, Any]) -> torch.optim.Optimizer:
    groups = param_groups(model, cfg["weight_decay"], cfg["decay_biases"])
    if not any(g["params"] for g in groups):
        raise ValueError("no trainable parameters (everything is frozen)")
    if cfg["optimizer"] == "sgd":
        return torch.optim.SGD(groups, lr=cfg["lr"], momentum=cfg["momentum"])
    return torch.optim.Adam(groups, lr=cfg["lr"])
