"""Evaluation: top-1 / top-5 error, the paper's 10-view test, ensembles of CNNs (SPEC §2, §4).

- :mod:`.metrics`: the measures (top-k hits and errors, log-loss, confusion matrix);
- :mod:`.run`: nets over views (softmax averaged over views and nets), ``evaluate_model``;
- :mod:`.from_weights`: ``alexnet evaluate``'s job, ``evaluate_weights``;
- :mod:`.report`: result files, the text report, the paper's numbers beside the run.

    from alexnet.evaluate import evaluate_weights
    result = evaluate_weights(["runs/a/model.safetensors"], "data/imagenet", views=10)
"""

from .from_weights import evaluate_weights
from .metrics import RunningErrors, confusion_matrix, per_class_accuracy, topk_hits
from .outputs import format_result, paper_comparison
from .run import evaluate_model, predict_probs

__all__ = ["RunningErrors", "confusion_matrix", "evaluate_model", "evaluate_weights", "format_result",
           "paper_comparison", "per_class_accuracy", "predict_probs", "topk_hits"]
