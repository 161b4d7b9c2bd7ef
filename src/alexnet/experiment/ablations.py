"""The paper's ablations (SPEC §4, last paragraph) as switches of one recipe.

Each :class:`Ablation` names the config switch it flips, its variants (named by the switch's
values) and what the paper measured. Every variant of an ablation shares the recipe, data,
data order, number of steps and seeds; only the switch differs (``runner.py`` checks it).

    ABLATIONS["lrn"].variants        # (Variant("lrn", {"model.lrn": True}), Variant("no-lrn", ...))
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Variant:
    name: str
    overrides: dict[str, Any]           # config keys (``model.X`` for model arguments)
    needs_colour: bool = False          # only meaningful on RGB data (PCA lighting)


@dataclass(frozen=True)
class Comparison:
    """``better`` should beat ``worse`` by the paper's account; ``measure`` says on what."""

    better: str
    worse: str
    measure: str            # "test_error": paired difference of final test top-1 error
    #                         "steps_to_target": ratio of the steps each needs to the target error
    paper: str              # what the paper reports for this comparison, in words
    paper_top1: float | None = None     # the paper's change in top-1 error, points (better − worse)
    paper_top5: float | None = None
    paper_ratio: float | None = None    # the paper's steps ratio (worse / better)
    paper_claims: bool = True           # False: the paper says nothing on this measure, so no verdict
    #                                     can be "as the paper" (it says which variant was better)


@dataclass(frozen=True)
class Ablation:
    name: str
    switch: str                         # the config key the variants differ in
    question: str
    variants: tuple[Variant, ...]
    comparisons: tuple[Comparison, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)


ABLATIONS: dict[str, Ablation] = {a.name: a for a in (
    Ablation(
        "activation", "model.activation",
        "Do ReLUs train faster than tanh units under the ReLU recipe? (section 3.1; Figure 1 as the paper ran it "
        "is `figure1`)",
        (Variant("relu", {"model.activation": "relu"}), Variant("tanh", {"model.activation": "tanh"})),
        (Comparison("relu", "tanh", "steps_to_target",
                    "a 4-layer CNN with ReLUs reached 25% training error on CIFAR-10 six times faster "
                    "than with tanh units (Figure 1)", paper_ratio=6.0),
         Comparison("relu", "tanh", "test_error", "not reported (Figure 1 shows training error only)",
                    paper_claims=False)),
        ("tanh trains here under the ReLU recipe (biases of 1, lr 0.01, dropout, crops and flips): this is not the "
         "paper's Figure 1, where each net had its own learning rate and no regularisation; `alexnet experiment "
         "figure1` runs that",),
    ),
    Ablation(
        "lrn", "model.lrn",
        "Does local response normalisation help? (section 3.3)",
        (Variant("lrn", {"model.lrn": True}), Variant("no-lrn", {"model.lrn": False})),
        (Comparison("lrn", "no-lrn", "test_error",
                    "LRN reduces the top-1 and top-5 error rates by 1.4% and 1.2% (ILSVRC); on CIFAR-10 a "
                    "four-layer CNN goes from 13% to 11% test error", paper_top1=-1.4, paper_top5=-1.2),),
    ),
    Ablation(
        "pooling", "model.pooling",
        "Does overlapping pooling help? (section 3.4)",
        (Variant("overlapping", {"model.pooling": "overlapping"}),
         Variant("non-overlapping", {"model.pooling": "non-overlapping"})),
        (Comparison("overlapping", "non-overlapping", "test_error",
                    "3×3 windows at stride 2 reduce the top-1 and top-5 error rates by 0.4% and 0.3% "
                    "against 2×2 at stride 2, which gives outputs of the same size", paper_top1=-0.4,
                    paper_top5=-0.3),),
    ),
    Ablation(
        "towers", "model.towers",
        "Two towers (two GPUs) against one tower of half the kernels (section 3.2)",
        (Variant("two-towers", {"model.towers": 2}), Variant("one-tower", {"model.towers": 1})),
        (Comparison("two-towers", "one-tower", "test_error",
                    "the two-GPU net has 1.7% and 1.2% lower top-1 and top-5 error rates than a net with half "
                    "as many kernels in each convolutional layer trained on one GPU", paper_top1=-1.7,
                    paper_top5=-1.2),),
        ("one tower keeps conv5 and the fully connected layers at full width, as the paper's footnote says",),
    ),
    Ablation(
        "dropout", "model.dropout",
        "Does dropout in fc6 and fc7 reduce overfitting, at the price of slower convergence? (section 4.2)",
        (Variant("dropout", {"model.dropout": 0.5}), Variant("no-dropout", {"model.dropout": 0.0})),
        (Comparison("dropout", "no-dropout", "test_error",
                    "without dropout the network overfits substantially (no figure given)"),
         Comparison("no-dropout", "dropout", "steps_to_target",
                    "dropout roughly doubles the number of iterations required to converge", paper_ratio=2.0)),
        ("the training error is measured with dropout on, as training sees it",),
    ),
    Ablation(
        "augmentation", "crops_flips / lighting_std",
        "Do random crops and flips, and PCA lighting, reduce overfitting? (section 4.1)",
        (Variant("none", {"crops_flips": False, "lighting_std": 0.0}),
         Variant("crops+flips", {"crops_flips": True, "lighting_std": 0.0}),
         Variant("crops+flips+lighting", {"crops_flips": True, "lighting_std": 0.1}, needs_colour=True)),
        (Comparison("crops+flips", "none", "test_error",
                    "without crops and flips the network overfits substantially, which would have forced much "
                    "smaller networks (no figure given)"),
         Comparison("crops+flips+lighting", "crops+flips", "test_error",
                    "PCA lighting reduces the top-1 error rate by over 1%", paper_top1=-1.0)),
        ("'none' trains on the centre crop, unmirrored; every variant keeps the mean-image subtraction",
         "PCA lighting shifts RGB colours along their principal axes: it does not apply to grey data, so on "
         "1-channel data that variant is not run"),
    ),
)}

NAMES = tuple(ABLATIONS)


class ExperimentError(ValueError):
    """A request that cannot run (unknown name, a preset that does not fit the data, runs that
    cannot be merged)."""


def ablation(name: str) -> Ablation:
    if name not in ABLATIONS:
        raise ValueError(f"unknown experiment {name!r}; choose one of {', '.join(NAMES)} or all")
    return ABLATIONS[name]
