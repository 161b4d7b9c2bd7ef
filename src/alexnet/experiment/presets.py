"""How big an experiment runs: ``smoke`` (seconds, for tests), ``cpu`` (minutes on 2 cores), ``gpu``.

A preset is a set of config overrides on the ``paper`` recipe (alexnet.config.PAPER), plus the
rule that decides whether it fits the data. Stores smaller than the preset's crop are resized to
the paper's crop-in-image ratio 224/256 = 7/8 before the random crops (28-px Fashion-MNIST →
73 px → 64-px crops), so every preset trains on crops, as the paper did.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

PAPER_CROP_RATIO = 224 / 256


@dataclass(frozen=True)
class Preset:
    name: str
    overrides: dict[str, Any]
    max_stored_size: int | None = None      # larger stored images do not fit (cpu, smoke)
    needs_cuda: bool = False
    scale_note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


PRESETS: dict[str, Preset] = {p.name: p for p in (
    Preset("smoke", {"input_size": 64, "batch_size": 16, "epochs": 2, "max_steps_per_epoch": 3,
                     "schedule": "constant", "log_interval": 1, "workers": 0},
           max_stored_size=73,
           scale_note="6 steps of 16 images at 64 px: checks that the experiment runs, measures nothing"),
    Preset("cpu", {"input_size": 64, "batch_size": 128, "epochs": 3, "max_steps_per_epoch": 300,
                   "schedule": "step", "step_epochs": 2, "log_interval": 10},
           max_stored_size=73,
           scale_note="64-px crops of images resized to 73 px instead of 224 of 256; 3 epochs of 300 batches "
                      "of 128 (a fresh shuffled part of the training set each epoch) instead of 90 whole epochs; "
                      "the learning rate ÷10 for the last epoch instead of on a plateau; the paper's widths "
                      "(the full net fits the budget at 64 px)"),
    Preset("gpu", {"input_size": 224, "batch_size": 128, "epochs": 40, "schedule": "step", "step_epochs": 10,
                   "log_interval": 50},
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
