"""The page's exploring endpoints: the net's layers, one layer's feature maps, fc7 neighbours,
the example images and the index's thumbnails (by number only)."""

from __future__ import annotations

import os

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from ..use.images import ImageReadError, open_image
from ..use.activations import CONV_LAYERS
from .api import EXAMPLE, IMAGE_BODY, MODEL
from .nets import thumbnail
from .pictures import jpeg_bytes, maps_pngs, png_bytes, to_pil
from .state import Served, served
from .uploads import read_images

router = APIRouter()


@router.get("/v1/summary", tags=["explore"], summary="the net's layers: shapes, parameters, receptive fields")
async def summary(model: str | None = MODEL, s: Served = Depends(served)) -> dict:
    net = s.net(model)
    return {"model": net.id, "conv_layers": [name for name in CONV_LAYERS
                                             if name in getattr(net.predictor.model, "LAYER_OUTPUTS", {})],
            **await run_in_threadpool(net.summary)}


async def one_image(request: Request, s: Served, net, example: int | None):
    uploads = await read_images(request, s.settings, net.predictor.channels, s.examples, example)
    if len(uploads) != 1:
        raise HTTPException(400, f"this endpoint takes one image, got {len(uploads)}")
    return uploads[0]


@router.post("/v1/maps", openapi_extra=IMAGE_BODY, tags=["explore"],
             summary="one conv layer's feature maps (after ReLU) for one image, as PNG data URLs")
async def maps(request: Request, layer: str = Query("conv1", description=", ".join(CONV_LAYERS)),
               model: str | None = MODEL, example: int | None = EXAMPLE, s: Served = Depends(served)) -> dict:
    net = s.net(model)
    if layer not in CONV_LAYERS:
        raise HTTPException(422, f"unknown conv layer {layer!r}; choose one of {', '.join(CONV_LAYERS)}")
    upload = await one_image(request, s, net, example)

    def compute():
        m = net.predictor.conv_maps(upload.image, layer)
        urls, peaks = maps_pngs(m)
        return list(m.shape), urls, peaks

    shape, urls, peaks = await s.compute.run(compute, s.settings.timeout_s)
    return {"model": net.id, "layer": layer, "shape": shape, "maps": urls, "max": peaks,
            "scale": "one scale per layer: 0 dark blue, the layer's largest activation yellow (viridis)"}


@router.post("/v1/input", openapi_extra=IMAGE_BODY, tags=["explore"],
             summary="the centre view the net sees (after resizing and cropping, before normalising), as PNG")
async def net_input(request: Request, model: str | None = MODEL, example: int | None = EXAMPLE,
                    s: Served = Depends(served)) -> Response:
    net = s.net(model)
    upload = await one_image(request, s, net, example)

    def compute() -> bytes:
        return png_bytes(to_pil(net.display([upload.image])[0]))

    return Response(await run_in_threadpool(compute), media_type="image/png")


@router.post("/v1/neighbours", openapi_extra=IMAGE_BODY, tags=["explore"],
             summary="nearest images in the server's --index by Euclidean distance (the paper's Figure 4)")
async def neighbours(request: Request, k: int = Query(8, ge=1, le=100), model: str | None = MODEL,
                     example: int | None = EXAMPLE, s: Served = Depends(served)) -> dict:
    if s.index is None:
        raise HTTPException(404, "this server has no feature index (start it with --index FEATURES)")
    net = s.net(model)
    upload = await one_image(request, s, net, example)
    query = await net.features_batcher.submit(s.index.layer, [upload.image], s.settings.timeout_s)
    if query.shape[1] != s.index.features.shape[1]:
        raise HTTPException(409, f"the index holds {s.index.features.shape[1]}-d {s.index.layer} vectors but model "
                                 f"{net.id!r} gives {query.shape[1]}-d ones; choose the model the index was made with")
    distances, rows = await run_in_threadpool(s.index.search, query, k)
    warning = None
    if s.index.weights_sha256 and net.sha256 and s.index.weights_sha256 != net.sha256:
        warning = f"{s.index_name} was made with other weights ({s.index.weights}); distances may mean little"
    return {"model": net.id, "layer": s.index.layer, "index": s.index_name, "size": len(s.index), "warning": warning,
            "neighbours": [{"rank": r + 1, "row": j, "name": os.path.basename(s.index.paths[j]), "distance": d,
                            "thumbnail": f"/v1/index/{j}/thumbnail"}
                           for r, (d, j) in enumerate(zip(distances[0].tolist(), rows[0].tolist()))]}


@router.get("/v1/index/{row}/thumbnail", tags=["explore"], summary="a thumbnail of the index's image ROW")
async def index_thumbnail(row: int, s: Served = Depends(served)) -> Response:
    if s.index is None or not 0 <= row < len(s.index):
        raise HTTPException(404, f"no index row {row}")
    return await _thumbnail(s.index.paths[row], f"index row {row}")


@router.get("/v1/examples", tags=["explore"], summary="the example images the server was started with")
async def examples(s: Served = Depends(served)) -> dict:
    return {"examples": [{**e, "thumbnail": f"/v1/examples/{e['id']}/thumbnail"} for e in s.examples.listing()]}


@router.get("/v1/examples/{id}/thumbnail", tags=["explore"], summary="a thumbnail of example ID")
async def example_thumbnail(id: int, s: Served = Depends(served)) -> Response:
    try:
        path = s.examples.path(id)
    except KeyError as e:
        raise HTTPException(404, str(e.args[0])) from None
    return await _thumbnail(path, f"example {id}")


async def _thumbnail(path, what: str) -> Response:
    try:
        image = await run_in_threadpool(open_image, path, 3)
    except ImageReadError as e:
        raise HTTPException(404, f"{what} could not be read: {e.reason}") from None
    return Response(await run_in_threadpool(lambda: jpeg_bytes(thumbnail(image))), media_type="image/jpeg",
                    headers={"Cache-Control": "max-age=3600"})

