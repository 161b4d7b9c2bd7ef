"""Fine-tuning (SPEC §6): start from trained weights, new fc8 for the new classes, same loop.

    from alexnet.train.finetune import finetune
    summary = finetune("runs/demo/model.safetensors", "my_images/", "runs/ft", freeze="features",
                       overrides={"epochs": 5, "lr": 0.001})
    finetune("torchvision:IMAGENET1K_V1", "my_images/", "runs/ft-tv")

The weights may be anything :func:`alexnet.models.load` takes (ours, torchvision's ``.pth`` or
``torchvision:IMAGENET1K_V1``). The new data may be an ImageFolder (``CLASS/*.jpg`` or
``train/``+``val/``), a prepared store or Fashion-MNIST (see :mod:`alexnet.data.open`). The net
keeps its architecture and input size; training starts from its architecture's recipe
(paper, torchvision or d2l) with :data:`FINETUNE_DEFAULTS`; its input scaling follows the
pre-trained net's (:func:`augment_like`; the mean image, if any, is recomputed on the new data
and turned grey for a grey net). A net trained on whole resized images (resize == crop, as the
demo's) is fine-tuned on whole images resized to its input; a grey net takes RGB data as luma.
``freeze="features"`` trains only fc6–fc8. Resuming, logs, checkpoints and the final
``model.safetensors`` are those of ``alexnet train``; the summary adds ``evaluation``
(validation top-1/top-5 error of the final net) when the data has a validation split.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import torch

from ..models.registry import default_recipe
from ..recipes import FINETUNE_DEFAULTS, resolve_config
from ..data.open import open_data
from ..models import load
from ..weights import resolve_weights_path
from .runner import run_training

def augment_like(preprocessing: dict[str, Any]) -> str:
    """The augmentation whose input scaling matches the pre-trained net's: the paper's
    ([0, 255] minus a mean image; also Caffe's nets, 0–255 minus a per-channel mean), torchvision's
    ([0, 1], mean/std) or plain [0, 1] with flips."""
    if preprocessing.get("mean_image") or float(preprocessing.get("pixel_scale", 1.0)) == 255.0:
        return "paper"
    return "torchvision" if preprocessing.get("mean") is not None else "flip"


def take_rgb(model: torch.nn.Module, preprocessing: dict[str, Any]) -> None:
    """A net that takes BGR (Caffe's weights) gets its first convolution's input channels reversed,
    so that it computes from the RGB batches of the training pipeline what it computed from BGR."""
    if preprocessing.get("channel_order") == "BGR":
        conv1 = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
        with torch.no_grad():
            conv1.weight.copy_(conv1.weight.flip(1))


def finetune(weights: str | Path, data: str | Path, run_dir: str | Path, *, freeze: str | None = None,
             overrides: dict[str, Any] | None = None, on_step: Callable | None = None) -> dict[str, Any]:
    """Fine-tune the net in ``weights`` on ``data``; writes the run to ``run_dir``."""
    model = load(weights)
    meta = model.weights_meta
    kwargs = {k: v for k, v in meta.model_kwargs.items() if k != "num_classes"}
    pre = meta.preprocessing
    # A net that saw whole images resized to its input (the Fashion-MNIST demo: resize == crop)
    # keeps seeing whole images; one trained on crops of larger images (ImageNet) keeps cropping.
    whole_image = bool(pre.get("resize")) and pre.get("resize") == pre.get("crop")
    cfg = resolve_config(default_recipe(meta.arch), {
        **FINETUNE_DEFAULTS, "augment": augment_like(pre), "data": str(data), "dataset": None, "freeze": freeze,
        "whole_image": whole_image, "input_size": int(pre.get("crop") or kwargs.get("input_size", 224)),
        "model": kwargs, **(overrides or {})}, arch=meta.arch)
    # The data decides the number of classes; open it once here to learn it.
    classes = open_data(cfg.data, cfg.dataset).train.num_classes
    model.reset_classifier(classes)
    take_rgb(model, pre)
    cfg = cfg.updated({"recipe": "finetune", "model.num_classes": classes,
                       "finetuned_from": str(resolve_weights_path(weights).resolve())})
    summary = run_training(cfg, run_dir, model=model, on_step=on_step)
    last = summary["history"][-1] if summary["history"] else {}
    if "val_top1_error" in last:
        summary["evaluation"] = {"top1_error": last["val_top1_error"], "top5_error": last["val_top5_error"]}
    return summary
