"""Fine-tuning (SPEC §6): start from a ``model.safetensors``, new fc8 for the new classes, same loop.

    from alexnet.train.finetune import finetune
    summary = finetune("runs/demo/model.safetensors", "my_images/", "runs/ft", freeze="features",
                       overrides={"epochs": 5, "lr": 0.001})

The new data may be an ImageFolder (``CLASS/*.jpg`` or ``train/``+``val/``), a prepared store or
Fashion-MNIST (see :mod:`alexnet.train.data`). The net keeps its architecture and input size;
its input scaling follows the pre-trained net's (:func:`augment_like`; the mean image, if any,
is recomputed on the new data and turned grey for a grey net; change it with
``overrides={"augment": ...}``). A net trained on whole resized images (resize == crop, as the
demo's) is fine-tuned on whole images resized to its input; a grey net takes RGB data as luma. ``freeze="features"`` trains only fc6–fc8. Resuming, logs, checkpoints and the
final ``model.safetensors`` are those of ``alexnet train``; the summary adds ``evaluation``
(validation top-1/top-5 error of the final net) when the data has a validation split.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from ..weights import load_weights
from .recipes import resolve_config
from .runner import run_training

# Fine-tuning defaults: the paper's optimiser at a tenth of its starting rate (the usual practice
# for a pre-trained net), few epochs, constant rate.
FINETUNE_DEFAULTS: dict[str, Any] = {"lr": 0.001, "epochs": 10, "schedule": "constant"}


def augment_like(preprocessing: dict[str, Any]) -> str:
    """The augmentation whose input scaling matches the pre-trained net's: the paper's
    ([0, 255] minus a mean image), torchvision's ([0, 1], mean/std) or plain [0, 1] with flips."""
    if preprocessing.get("mean_image"):
        return "paper"
    return "torchvision" if preprocessing.get("mean") is not None else "flip"


def finetune(weights: str | Path, data: str | Path, run_dir: str | Path, *, freeze: str | None = None,
             overrides: dict[str, Any] | None = None, on_step: Callable | None = None) -> dict[str, Any]:
    """Fine-tune the net in ``weights`` on ``data``; writes the run to ``run_dir``."""
    from ..models import create
    from .data import open_stores
    from .distributed import DistContext

    _, meta = load_weights(weights)
    kwargs = {k: v for k, v in meta.model_kwargs.items() if k != "num_classes"}
    pre = meta.preprocessing
    # A net that saw whole images resized to its input (the Fashion-MNIST demo: resize == crop)
    # keeps seeing whole images; one trained on crops of larger images (ImageNet) keeps cropping.
    whole_image = bool(pre.get("resize")) and pre.get("resize") == pre.get("crop")
    cfg = resolve_config("paper", {**FINETUNE_DEFAULTS, "augment": augment_like(pre), "arch": meta.arch,
                                   "data": str(data), "freeze": freeze, "whole_image": whole_image,
                                   **({"input_size": kwargs["input_size"]} if "input_size" in kwargs else {}),
                                   "model": {**kwargs}, **(overrides or {})})
    # The data decides the number of classes; open it once here to learn it.
    train_store, _, _ = open_stores(cfg, DistContext())
    model = create(meta.arch, weights=weights)
    model.reset_classifier(train_store.num_classes)
    cfg["model"] = {**kwargs, "num_classes": train_store.num_classes}
    cfg["finetuned_from"] = str(Path(weights).resolve())
    summary = run_training(cfg, run_dir, model=model, on_step=on_step)
    last = summary["history"][-1] if summary["history"] else {}
    if "val_top1_error" in last:
        summary["evaluation"] = {"top1_error": last["val_top1_error"], "top5_error": last["val_top5_error"]}
    return summary
