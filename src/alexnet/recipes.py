"""Every number of every recipe, in one place (README: "Recipes"; docs/SPEC.md §8 argues them).

    from alexnet.recipes import resolve_config
    cfg = resolve_config("paper", {"epochs": 1, "model.dropout": 0.0})

- The training recipes, instances of :class:`alexnet.config.Config`: :data:`PAPER` (SPEC §3; where the
  paper is silent or does not train, the authors' code, cuda-convnet2: its init, its LRN α/n and its
  lighting scale; one help of our own, a 100-step linear warm-up, measured in docs/REPRODUCTION.md),
  :data:`TORCHVISION` (SPEC §5, for ``alexnet_owt``) and :data:`D2L` (seed 003, for ``alexnet_d2l``).
  Each architecture names its own recipe where it is registered (:mod:`alexnet.models.registry`).
- :data:`DEMO_PROFILES`: the demo's changes to the paper recipe for a few-epoch budget
  (``alexnet demo``; measured in docs/REPRODUCTION.md §2).
- :data:`PRESETS`: how big an ablation runs (``alexnet experiment --preset``).
- :data:`FINETUNE_DEFAULTS`: what fine-tuning changes in the net's recipe.
- :func:`chance_level_advice`: what a run that sits at chance level is told, per net and recipe.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Mapping

from .config import Config
from .models import registry

# -- training recipes -------------------------------------------------------------------------------

PAPER = Config(
    recipe="paper", arch="alexnet2012",
    model={"init": "cuda-convnet", "lrn_alpha": "cuda-convnet", "lrn_per_tower": True},
    optimizer="sgd", lr=0.01, momentum=0.9, weight_decay=5e-4, decay_biases=False, bias_lr_mult=1.0,
    batch_size=128, epochs=90, schedule="plateau", lr_factor=0.1, max_lr_drops=3, warmup_steps=100,
    augment="paper", input_size=224, lighting_std=0.1, lighting_scale="cuda-convnet2",
)
TORCHVISION = Config(
    recipe="torchvision", arch="alexnet_owt",
    optimizer="sgd", lr=0.01, momentum=0.9, weight_decay=1e-4, decay_biases=True,
    batch_size=256, epochs=90, schedule="step", lr_factor=0.1, step_epochs=30,
    augment="torchvision", input_size=224,
)
D2L = Config(
    recipe="d2l", arch="alexnet_d2l", dataset="fashion-mnist",
    optimizer="adam", lr=1e-3, weight_decay=0.0,
    batch_size=128, epochs=5, schedule="constant", augment="none", input_size=224,
)
RECIPES: dict[str, Config] = {c.recipe: c for c in (PAPER, TORCHVISION, D2L)}


def recipe_names() -> list[str]:
    return sorted(RECIPES)


def resolve_config(recipe: str | None = None, overrides: Mapping[str, Any] | None = None, *,
                   arch: str | None = None) -> Config:
    """A recipe with ``overrides`` applied (flat keys; ``model.X`` for model arguments).

    ``recipe`` None takes the architecture's own (its registry entry's ``default_recipe``: paper for
    alexnet2012, torchvision for alexnet_owt, d2l for alexnet_d2l). A recipe run on another
    architecture keeps its training numbers but not its model arguments (they belong to its own
    architecture).
    """
    overrides = dict(overrides or {})
    recipe = recipe or overrides.pop("recipe", None)
    overrides.pop("recipe", None)
    arch = arch or overrides.pop("arch", None)
    recipe = recipe or registry.default_recipe(arch or "alexnet2012")
    if recipe not in RECIPES:
        raise ValueError(f"unknown recipe {recipe!r}; known recipes: {', '.join(recipe_names())}")
    cfg = RECIPES[recipe]
    if arch and arch != cfg.arch:
        cfg = dataclasses.replace(cfg, arch=arch, model={})
    return cfg.updated(overrides)


# -- the demo ----------------------------------------------------------------------------------------

CPU_INPUT_SIZE = 64          # the CPU profile's input side (the paper's 224 on a GPU)
CPU_EPOCHS = 8
CPU_STEPS_PER_EPOCH = 280    # 8 × 280 batches of 128: 5.2 passes over the 55,000 images not held out
FULL_EPOCHS = 5
DEMO_HOLDOUT = 5000          # Fashion-MNIST training images held out as the validation split (data/holdout.py)

#: The demo's overrides of :data:`PAPER` (alexnet.demo says why each; REPRODUCTION §2 says how they were
#: chosen: first on the test set, before the validation split existed, then kept on the validation split
#: against crops and flips back on and against lr 0.02).
DEMO_PROFILES: dict[str, dict[str, Any]] = {
    "full": {"epochs": FULL_EPOCHS, "schedule": "linear", "holdout": DEMO_HOLDOUT},
    "cpu": {"input_size": CPU_INPUT_SIZE, "epochs": CPU_EPOCHS, "max_steps_per_epoch": CPU_STEPS_PER_EPOCH,
            "schedule": "linear", "crops_flips": False, "holdout": DEMO_HOLDOUT},
}

# -- experiment presets ------------------------------------------------------------------------------

PAPER_CROP_RATIO = 224 / 256


@dataclass(frozen=True)
class Preset:
    """How big an ablation runs: config overrides on :data:`PAPER` and whether it fits the data."""

    name: str
    overrides: dict[str, Any]
    max_stored_size: int | None = None      # larger stored images do not fit (cpu, smoke)
    needs_cuda: bool = False
    scale_note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


#: The CPU presets train in float32 (``amp: off``) on every host, not in the fast path's bf16 where the CPU
#: has it: runs from hosts with and without bf16 hardware then differ only by rounding, and the records
#: of 2026-12-02 (float32, trained before the fast path) merge with new ones. No preset compiles
#: (``compile: False``, as every experiment ran before ``compile: auto``).
PRESETS: dict[str, Preset] = {p.name: p for p in (
    Preset("smoke", {"input_size": 64, "batch_size": 16, "epochs": 2, "max_steps_per_epoch": 3,
                     "schedule": "constant", "log_interval": 1, "workers": 0, "amp": "off", "compile": False},
           max_stored_size=73,
           scale_note="6 steps of 16 images at 64 px: checks that the experiment runs, measures nothing"),
    Preset("cpu", {"input_size": 64, "batch_size": 128, "epochs": 3, "max_steps_per_epoch": 300,
                   "schedule": "step", "step_epochs": 2, "log_interval": 10, "amp": "off", "compile": False},
           max_stored_size=73,
           scale_note="64-px crops of images resized to 73 px instead of 224 of 256; 3 epochs of 300 batches "
                      "of 128 (a fresh shuffled part of the training set each epoch) instead of 90 whole epochs; "
                      "the learning rate ÷10 for the last epoch instead of on a plateau; the paper's widths "
                      "(the full net fits the budget at 64 px)"),
    Preset("gpu", {"input_size": 224, "batch_size": 128, "epochs": 40, "schedule": "step", "step_epochs": 10,
                   "log_interval": 50, "compile": False},
           needs_cuda=True,
           scale_note="224-px crops (of 256 px), whole epochs, the lr ÷10 every 10 of 40 epochs (the paper's three "
                      "drops of 90 epochs, compressed)"),
)}


def preset(name: str) -> Preset:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return PRESETS[name]


def resize_for(stored_size: int, input_size: int) -> int:
    """The config's ``resize`` for these stored images: 0 (the stored size) when they are at least
    the crop (ImageNet's 256 for 224), else the crop at the paper's ratio (64 → 73)."""
    return 0 if stored_size >= input_size else round(input_size / PAPER_CROP_RATIO)


# -- fine-tuning -------------------------------------------------------------------------------------

#: The net's own recipe at a tenth of the paper's starting rate (the usual practice for a pre-trained
#: net), few epochs, a constant rate after the recipe's warm-up (the paper recipe's 100 steps).
FINETUNE_DEFAULTS: dict[str, Any] = {"lr": 0.001, "epochs": 10, "schedule": "constant"}


# -- advice ------------------------------------------------------------------------------------------

def chance_level_advice(cfg: Config, train_loss: float, num_classes: int,
                        step_lr: float | None = None) -> tuple[str, bool]:
    """What to tell the user when the loss after the first epoch is at chance level, and whether
    to stop: alexnet2012 with the printed init is known to stay there (docs/REPRODUCTION.md).
    ``step_lr``: the rate of the epoch's last step (lower than ``cfg.lr`` during a warm-up)."""
    head = (f"the training loss after the first epoch is {train_loss:.4f}, at chance level "
            f"(ln {num_classes} = {math.log(num_classes):.4f}): the net is not learning")
    if step_lr is not None and step_lr < cfg.lr * (1 - 1e-6):
        head += (f" (its last step ran at lr {step_lr:g}, still in the warm-up of {cfg.warmup_steps} steps to "
                 f"lr {cfg.lr:g}: a longer first epoch may get there)")
    init = cfg.model.get("init", "cuda-convnet")
    if cfg.arch == "alexnet2012" and init == "paper":
        return (f"{head}. With the paper's printed init (N(0, 0.01) everywhere, biases 1) the bias path drowns "
                f"the image signal from conv4 on and the loss stays flat (measured: docs/REPRODUCTION.md). "
                f"Set --set model.init=cuda-convnet (Krizhevsky's released values: N(0, 0.03) in conv3-conv5, "
                f"the recipe's default) or --set model.init=caffe", True)
    if cfg.arch == "alexnet2012" and cfg.optimizer == "adam" and cfg.lr >= 1e-3:
        return (f"{head}. Adam at lr {cfg.lr:g} is known to knock alexnet2012 onto this plateau: try --lr 1e-4 "
                f"or the paper's SGD (--set optimizer=sgd --lr 0.01)", False)
    return (f"{head}. Try a lower --lr (now {cfg.lr:g}), --set warmup_steps=N, or check the labels of the data",
            False)
