"""Saliency for practitioners: Grad-CAM (Selvaraju et al., 2017) on conv5 and guided
backpropagation (Springenberg et al., 2015), both with Captum.

    cam = grad_cam(model, x)                 # dict: "target", "cam" (signed, conv5 grid), "heatmap"
    gb = guided_backprop(model, x)           # (N, C, H, W) in the net's input space

Grad-CAM weights each map of conv5 (after its ReLU) by the mean gradient of the target class's
logit over the map and sums them: Captum's ``LayerGradCam`` with ``relu_attributions=False``
gives that signed sum (``cam``; negative where the maps speak against the class). The heatmap
drawn over the image is Grad-CAM's own: the ReLU of it, upsampled bilinearly to the input
(``heatmap``). Guided backpropagation is Captum's ``GuidedBackprop``: the gradient, with each
ReLU passing back only positive gradients where its input was positive; LRN layers keep their
true gradient. Both run on :func:`alexnet.explain._net.hookable_copy` (no in-place ReLU).
``target`` defaults to each image's top-1 class.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._net import check_conv_layer, hookable_copy, quiet_captum, require_captum


def top_classes(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The top-1 class of each image of ``x`` (N,)."""
    with torch.no_grad():
        return model.eval()(x).argmax(1)


def _targets(model: nn.Module, x: torch.Tensor, target) -> torch.Tensor:
    if target is None:
        return top_classes(model, x)
    t = torch.as_tensor(target, dtype=torch.long).flatten()
    t = t.expand(x.shape[0]) if t.numel() == 1 else t
    classes = model.num_classes if hasattr(model, "num_classes") else None
    if classes is not None and ((t < 0) | (t >= classes)).any():
        raise ValueError(f"target class {t.tolist()} is out of range: the net has {classes} classes")
    return t


def grad_cam(model: nn.Module, x: torch.Tensor, target: int | torch.Tensor | None = None,
             layer: str = "conv5") -> dict:
    """Grad-CAM of ``layer`` for ``target`` (one class, one per image, or None: top-1).

    Returns ``target`` (N,), ``cam`` (N, h, w) signed, on the layer's grid, and ``heatmap``
    (N, H, W) = ReLU(cam) upsampled to the input.
    """
    attr = require_captum()
    net = hookable_copy(model)
    targets = _targets(net, x, target)
    gc = attr.LayerGradCam(net, check_conv_layer(net, layer))
    with quiet_captum():
        cam = gc.attribute(x.detach().clone().requires_grad_(True), target=targets,
                           relu_attributions=False).detach()                        # (N, 1, h, w)
    heat = F.interpolate(cam.clamp_min(0), size=x.shape[-2:], mode="bilinear", align_corners=False)
    return {"target": targets, "cam": cam[:, 0], "heatmap": heat[:, 0]}


def guided_backprop(model: nn.Module, x: torch.Tensor, target: int | torch.Tensor | None = None) -> torch.Tensor:
    """Guided backpropagation of ``target``'s logit (None: top-1) to the input: (N, C, H, W)."""
    attr = require_captum()
    net = hookable_copy(model)
    targets = _targets(net, x, target)
    with quiet_captum():
        return attr.GuidedBackprop(net).attribute(x.detach().clone().requires_grad_(True), target=targets).detach()
