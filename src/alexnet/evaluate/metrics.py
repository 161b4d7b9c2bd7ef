"""The paper's measures: top-1 / top-5 error, the log-loss, the confusion matrix (SPEC §4).

Top-1 error is the fraction of images whose most probable class is wrong; top-5 the fraction
whose true class is not among the five most probable. :func:`topk_hits` is the one counter:
the training step, per-epoch validation and ``alexnet evaluate`` all count with it.
"""

from __future__ import annotations

from torch import Tensor


def topk_hits(scores: Tensor, labels: Tensor, ks: tuple[int, ...] = (1, 5)) -> tuple[Tensor, ...]:
    """For each k, how many rows of ``scores`` (N, K) have their label among the k highest scores:
    0-dim tensors on the scores' device (reading them syncs it). A k above K counts every row."""
    if scores.ndim != 2 or labels.shape != scores.shape[:1]:
        raise ValueError(f"top-k needs scores (N, K) and labels (N,), got {tuple(scores.shape)} "
                         f"and {tuple(labels.shape)}")
    kmax = min(max(ks), scores.shape[1])
    hit = scores.topk(kmax, dim=1).indices == labels.to(scores.device).view(-1, 1)
    return tuple(hit[:, :min(k, kmax)].any(dim=1).sum() for k in ks)


class RunningErrors:
    """Top-1/top-5 hits and log-loss summed batch by batch, so evaluation keeps no (N, K) table."""

    def __init__(self) -> None:
        self.n, self.top1, self.top5, self.nll = 0, 0, 0, 0.0

    def update(self, log_probs: Tensor, labels: Tensor) -> None:
        """Add a batch: ``log_probs`` (B, K) log-probabilities, ``labels`` (B,)."""
        top1, top5 = topk_hits(log_probs, labels)
        self.top1 += int(top1)
        self.top5 += int(top5)
        self.nll += float(-log_probs.gather(1, labels.view(-1, 1)).sum())
        self.n += labels.numel()

    def errors(self) -> tuple[float, float]:
        return 1.0 - self.top1 / self.n, 1.0 - self.top5 / self.n

    def result(self) -> dict[str, float | int]:
        if self.n == 0:
            raise ValueError("the loader yielded no images")
        top1, top5 = self.errors()
        return {"top1_error": top1, "top5_error": top5, "loss": self.nll / self.n, "num_images": self.n}


def confusion_matrix(pred: Tensor, labels: Tensor, num_classes: int) -> Tensor:
    """(K, K) int64 counts: entry [t, p] is the number of images of true class t predicted as p."""
    import torch
    pred, labels = pred.reshape(-1).long().cpu(), labels.reshape(-1).long().cpu()
    if pred.shape != labels.shape:
        raise ValueError(f"confusion_matrix: {pred.numel()} predictions for {labels.numel()} labels")
    for name, t in (("prediction", pred), ("label", labels)):
        if t.numel() and (t.min() < 0 or t.max() >= num_classes):
            raise ValueError(f"confusion_matrix: a {name} lies outside 0..{num_classes - 1}")
    counts = torch.bincount(labels * num_classes + pred, minlength=num_classes * num_classes)
    return counts.view(num_classes, num_classes)


def per_class_accuracy(confusion: Tensor) -> Tensor:
    """(K,) float: correct / total per true class (rows); NaN for a class with no images."""
    confusion = confusion.double()
    return (confusion.diagonal() / confusion.sum(dim=1)).float()
