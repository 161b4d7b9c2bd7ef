"""The page's looks inside the net, computed by :mod:`alexnet.explain` (this module only draws):
a map's deconvnet projection, occlusion and Grad-CAM overlays, conv1's kernels tower by tower,
and a map's top-9 patches among the ``--patches-from`` images.

Each runs on the server's one worker thread (:class:`alexnet.serve.batching.Compute`) with the
explain timeout; on a CPU each takes from a fraction of a second (deconvnet, Grad-CAM at 67 px) to
several seconds (occlusion at 224 px: 169 forward passes).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from PIL import ImageDraw

from .. import explain
from ..use.activations import CONV_LAYERS
from .api import EXAMPLE, IMAGE_BODY, MODEL
from .explore import one_image
from .pictures import data_url, heat_overlay, png_bytes, signed, tile_mosaic, to_pil
from .state import Served, served

router = APIRouter()
TARGET = Query(None, ge=0, description="class index to explain; default: the net's top-1 class")


def display_crop(net, image):
    """The centre view the net sees, as pixels in [0, 1] (C, S, S)."""
    return net.display([image])[0]


async def run_explain(s: Served, fn):
    try:
        return await s.compute.run(fn, s.settings.explain_timeout_s)
    except ImportError as e:  # Captum missing: the deconvnet and Grad-CAM need it
        raise HTTPException(501, str(e)) from None
    except ValueError as e:   # a map or class out of range
        raise HTTPException(422, str(e)) from None


def check_layer(layer: str) -> str:
    if layer not in CONV_LAYERS:
        raise HTTPException(422, f"unknown conv layer {layer!r}; choose one of {', '.join(CONV_LAYERS)}")
    return layer


@router.post("/v1/deconv", openapi_extra=IMAGE_BODY, tags=["explain"],
             summary="deconvnet projection (Zeiler & Fergus) of a map's strongest unit back to pixels")
async def deconv(request: Request, layer: str = Query("conv1"), map: int = Query(0, ge=0),
                 model: str | None = MODEL, example: int | None = EXAMPLE, s: Served = Depends(served)) -> dict:
    net, layer = s.net(model), check_layer(layer)
    upload = await one_image(request, s, net, example)

    def compute():
        m = net.predictor.model
        x = net.predictor.preprocess([upload.image]).to(net.predictor.device)
        unit = explain.strongest_units(m, x, layer, [map])[0]
        projection = explain.deconv_projections(m, x, layer, [unit])[0].cpu()
        box = explain.receptive_field(m, layer, net.predictor.input_size).box(unit[2], unit[3])
        framed = to_pil(display_crop(net, upload.image)).convert("RGB")
        ImageDraw.Draw(framed).rectangle((box[1], box[0], box[3] - 1, box[2] - 1), outline=(230, 40, 40))
        return {"unit": {"y": int(unit[2]), "x": int(unit[3])}, "box": list(box),
                "projection": data_url(png_bytes(to_pil(signed(projection)))),
                "input_with_box": data_url(png_bytes(framed))}

    return {"model": net.id, "layer": layer, "map": map, **await run_explain(s, compute),
            "note": "the strongest unit's activation projected down alone (ReLU on the way, LRN skipped); grey is 0"}


@router.post("/v1/occlusion", openapi_extra=IMAGE_BODY, tags=["explain"],
             summary="occlusion (Zeiler & Fergus Fig. 7): p(class) as a grey square slides over the image")
async def occlusion(request: Request, target: int | None = TARGET, model: str | None = MODEL,
                    example: int | None = EXAMPLE, s: Served = Depends(served)) -> dict:
    net = s.net(model)
    upload = await one_image(request, s, net, example)

    def compute():
        x = net.predictor.preprocess([upload.image]).to(net.predictor.device)
        r = explain.occlusion_maps(net.predictor.model, x, target)
        drop = (r["target_probability"] - r["probability"].cpu()).clamp_min(0)
        names = net.predictor.class_names
        return {"target": r["target"], "target_class": names[r["target"]], "target_probability": r["target_probability"],
                "top_class": names[r["top_class"]], "patch": r["patch"], "stride": r["stride"],
                "min_probability": float(r["probability"].min()),
                "overlay": data_url(png_bytes(heat_overlay(display_crop(net, upload.image), drop)))}

    return {"model": net.id, **await run_explain(s, compute),
            "note": "colour: how much hiding that part lowers p(class) (bright: most)"}


@router.post("/v1/gradcam", openapi_extra=IMAGE_BODY, tags=["explain"],
             summary="Grad-CAM of conv5 for a class (default: the top-1), over the image")
async def gradcam(request: Request, target: int | None = TARGET, model: str | None = MODEL,
                  example: int | None = EXAMPLE, s: Served = Depends(served)) -> dict:
    net = s.net(model)
    upload = await one_image(request, s, net, example)

    def compute():
        x = net.predictor.preprocess([upload.image]).to(net.predictor.device)
        r = explain.grad_cam(net.predictor.model, x, target)
        t = int(r["target"][0])
        return {"target": t, "target_class": net.predictor.class_names[t],
                "overlay": data_url(png_bytes(heat_overlay(display_crop(net, upload.image), r["heatmap"][0].cpu())))}

    return {"model": net.id, "layer": "conv5", **await run_explain(s, compute)}


@router.get("/v1/towers", tags=["explain"], summary="conv1's kernels tower by tower (the paper's Figure 3), "
                                                     "with each tower's colour specificity")
async def towers(model: str | None = MODEL, s: Served = Depends(served)) -> dict:
    net = s.net(model)

    def compute():
        weight = explain.conv1_weight(net.predictor.model)
        report = explain.towers_report(net.predictor.model)
        lo = weight.flatten(1).min(1).values[:, None, None, None]
        hi = weight.flatten(1).max(1).values[:, None, None, None]
        tiles = (weight - lo) / (hi - lo).clamp_min(1e-12)        # each kernel on its own scale, as Figure 3
        per = len(tiles) // report["towers"]
        return {"report": {k: v for k, v in report.items() if k != "per_kernel"},
                "towers": [{"tower": t + 1, "kernels": [t * per, (t + 1) * per - 1],
                            "png": data_url(png_bytes(tile_mosaic(tiles[t * per:(t + 1) * per], cols=16)))}
                           for t in range(report["towers"])]}

    return {"model": net.id, **await run_explain(s, compute)}


@router.get("/v1/patches", tags=["explain"],
            summary="a map's top-9 patches among the --patches-from images (Zeiler & Fergus Fig. 2)")
async def patches(layer: str = Query("conv1"), map: int = Query(0, ge=0), model: str | None = MODEL,
                  s: Served = Depends(served)) -> dict:
    if s.patches is None:
        raise HTTPException(404, "this server has no patch images (start it with --patches-from FOLDER_OR_STORE)")
    net, layer = s.net(model), check_layer(layer)
    try:
        result = await s.patches.top(net, layer, map, s.compute, s.settings.explain_timeout_s)
    except ValueError as e:
        raise HTTPException(422, str(e)) from None
    return {"model": net.id, "layer": layer, "map": map, **result}
