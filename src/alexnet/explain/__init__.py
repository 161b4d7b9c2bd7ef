"""Inside AlexNet: the paper's and Zeiler & Fergus's (2013) ways of looking into a trained net.

Plain functions of a model (any registered arch: ``alexnet2012``, ``alexnet_owt``, ``alexnet_d2l``,
as :func:`alexnet.models.load` builds it) and preprocessed image tensors (what
:meth:`alexnet.use.Predictor.preprocess` returns); they return tensors and dicts and draw nothing.
Layers are named as in each model's ``LAYER_OUTPUTS`` (conv1..conv5, after their ReLU). On a CPU
each takes seconds for one image. ``alexnet explain`` (:mod:`alexnet.cli.explain`) and the figures
of :mod:`alexnet.explain.figures` call them.

    from alexnet.use import Predictor
    from alexnet import explain
    predictor = Predictor("runs/demo/model.safetensors", "cpu")
    model, x = predictor.model, predictor.preprocess(["tests/photos/chelsea.jpg"])     # (1, C, S, S)

    # Zeiler & Fergus Fig. 2: top-k patches and deconvnet projections
    best = explain.top_patches(model, batches, "conv2", maps=[0, 5], k=9)   # {map: [TopPatch]}
    explain.strongest_maps(model, x, "conv5", n=9)                          # [(map, activation)]
    explain.deconv_projection(model, x, "conv5", map_index=12)              # (N, C, H, W)
    explain.deconv_projections(model, x, "conv5", [(0, 12, 3, 4)])          # (image, map, y, x) units
    explain.receptive_field(model, "conv2", 224).box(y, x)                  # as `alexnet summary` counts

    # Fig. 7: occlusion
    explain.occlusion_maps(model, x, target=None, patch=32, stride=16)      # dict of (rows, cols) maps

    # Fig. 4: feature evolution over a run kept with keep_epoch_weights=true
    explain.feature_evolution("runs/demo", batches, {"conv1": [0, 1], "conv5": [3]})

    # the paper's Fig. 3, measured
    explain.towers_report(model)                      # colour specificity per tower (or why not)
    explain.tower_colour_specificity(conv1_weight, towers=2)

    # saliency for practitioners (Captum)
    explain.grad_cam(model, x, target=None)           # {"target", "cam" (signed), "heatmap"}
    explain.guided_backprop(model, x, target=None)    # (N, C, H, W)

Captum (``pip install 'alexnet[explain]'``) computes the deconvnet, Grad-CAM and guided
backpropagation; without it those raise an ImportError that says so. Top patches, occlusion,
evolution statistics and the towers measure need only torch.
"""

from ._net import ReceptiveField, layer_channels, receptive_field
from .evolution import feature_evolution
from .deconvnet import deconv_projection, deconv_projections, strongest_maps, strongest_units
from .occlusion import occlusion_maps
from .saliency import grad_cam, guided_backprop
from .topk_patches import TopPatch, crop, top_patches
from .towers import colour_specificity, conv1_weight, tower_colour_specificity, towers_report

__all__ = ["ReceptiveField", "TopPatch", "colour_specificity", "conv1_weight", "crop", "deconv_projection",
           "deconv_projections", "feature_evolution", "grad_cam", "guided_backprop", "layer_channels", "occlusion_maps",
           "receptive_field", "strongest_maps", "strongest_units", "top_patches", "tower_colour_specificity",
           "towers_report"]
