"""``POST /v1/predict`` and ``POST /v1/features``: the batched endpoints.

Both take one or more images as a multipart upload (field ``file``, repeatable), one image as the
raw request body, or ``?example=ID``. ``/v1/predict`` answers in the shape of ``alexnet predict
--json`` (``{"results": [{"top": [{"class": …, "probability": …}, …]}, …]}``), computed by the
same :class:`alexnet.use.Predictor` code, so the numbers are the command's (to float rounding
when a request shares its forward pass with others: the rows of one batch are independent).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Query, Request

from ..use.activations import FEATURE_LAYERS
from ..use.predict import Prediction
from .state import Served, served
from .uploads import read_images

router = APIRouter()

#: The request body as /docs shows it (the endpoints read it themselves, to take either form).
IMAGE_BODY = {"requestBody": {"required": False, "content": {
    "multipart/form-data": {"schema": {"type": "object", "properties": {
        "file": {"type": "array", "items": {"type": "string", "format": "binary"},
                 "description": "one or more images (repeat the field)"}}}},
    "application/octet-stream": {"schema": {"type": "string", "format": "binary"},
                                 "description": "one image as the raw body (any Content-Type but multipart)"}}}}

MODEL = Query(None, description="model id (GET /v1/model lists them); default: the first weights given")
EXAMPLE = Query(None, ge=0, description="use example image ID (GET /v1/examples) instead of an upload")


def check_views(views: int) -> int:
    if views not in (1, 10):
        raise HTTPException(422, f"views must be 1 (centre crop) or 10 (corners + centre and flips), got {views}")
    return views


@router.post("/v1/predict", openapi_extra=IMAGE_BODY, tags=["api"],
             summary="top-k classes of one or more images (the shape of `alexnet predict --json`)")
async def predict(request: Request, topk: int = Query(5, ge=1, description="classes per image"),
                  views: int = Query(1, description="1: centre crop; 10: corners + centre and flips, averaged"),
                  model: str | None = MODEL, example: int | None = EXAMPLE, s: Served = Depends(served)) -> dict:
    net = s.net(model)
    check_views(views)
    if topk > s.settings.max_topk:
        raise HTTPException(422, f"topk must be at most {s.settings.max_topk}, got {topk}")
    uploads = await read_images(request, s.settings, net.predictor.channels, s.examples, example)
    probs = await net.predict_batcher.submit(views, [u.image for u in uploads], s.settings.timeout_s)
    results = []
    for upload, p in zip(uploads, probs):
        result = Prediction(upload.name, topk=net.predictor.top(p, topk)).to_json()
        results.append({"name": result.pop("path"), **result})
    return {"model": net.id, "views": views, "predicted": len(results), "results": results}


@router.post("/v1/features", openapi_extra=IMAGE_BODY, tags=["api"],
             summary="fc7 (or fc6, pool5) vectors of one or more images, as `alexnet features` extracts them")
async def features(request: Request, layer: str = Query("fc7", description=", ".join(FEATURE_LAYERS)),
                   model: str | None = MODEL, example: int | None = EXAMPLE, s: Served = Depends(served)) -> dict:
    net = s.net(model)
    if layer not in FEATURE_LAYERS:
        raise HTTPException(422, f"unknown feature layer {layer!r}; choose one of {', '.join(FEATURE_LAYERS)}")
    uploads = await read_images(request, s.settings, net.predictor.channels, s.examples, example)
    rows = await net.features_batcher.submit(layer, [u.image for u in uploads], s.settings.timeout_s)
    return {"model": net.id, "layer": layer, "dim": int(rows.shape[1]),
            "results": [{"name": u.name, "vector": row.tolist()} for u, row in zip(uploads, rows)]}
