"""The FastAPI application: the page, the API, its limits and its errors.

    app = create_app(Served.load(["runs/demo/model.safetensors"], examples="photos/"))
    # uvicorn.run(app, host="127.0.0.1", port=8000)   — or `alexnet serve` (alexnet.serve.run)

Errors are JSON ``{"detail": "one line"}``: 400 bad image, 404 unknown model/example/row, 413 body
too large, 422 bad parameter, 503 busy (with ``Retry-After``), 504 no answer in time.
"""

from __future__ import annotations

import contextlib
import time
from importlib import resources

from fastapi import Depends, FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from .. import __version__
from . import api, explore, inside
from .batching import Busy, TimedOut
from .state import Served, served
from .uploads import BodyLimit, BodyTooLarge, too_large_response

STATIC = resources.files("alexnet.serve") / "static"


def create_app(state: Served) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        await state.start()
        try:
            yield
        finally:
            await state.stop()

    app = FastAPI(title="alexnet serve", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="AlexNet (Krizhevsky, Sutskever & Hinton, 2012) behind HTTP: classify images, read "
                              "their features, look inside the net. Images go as multipart field `file` "
                              "(repeatable) or as the raw request body; errors are `{\"detail\": \"...\"}`.")
    app.state.served = state
    app.add_middleware(BodyLimit, max_bytes=state.settings.max_body_bytes)
    _errors(app)
    app.include_router(api.router)
    app.include_router(explore.router)
    app.include_router(inside.router)
    _pages(app)
    return app


def _errors(app: FastAPI) -> None:
    @app.exception_handler(Busy)
    async def busy(request: Request, e: Busy):
        return JSONResponse({"detail": str(e)}, status_code=503, headers={"Retry-After": str(e.retry_after_s)})

    @app.exception_handler(TimedOut)
    async def timed_out(request: Request, e: TimedOut):
        return JSONResponse({"detail": str(e)}, status_code=504)

    @app.exception_handler(BodyTooLarge)
    async def too_large(request: Request, e: BodyTooLarge):
        return too_large_response(e)


def _pages(app: FastAPI) -> None:
    @app.get("/", include_in_schema=False)
    async def page():
        return FileResponse(str(STATIC / "index.html"))

    @app.get("/docs", include_in_schema=False)
    async def docs():
        return FileResponse(str(STATIC / "docs.html"))

    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")

    @app.get("/healthz", tags=["server"], summary="liveness: the nets, queue lengths and batches run")
    async def healthz(s: Served = Depends(served)) -> dict:
        return {"status": "ok", "uptime_s": round(time.time() - s.started, 1),
                "models": {id: {"waiting": sum(b.waiting for b in net.batchers),
                                "batches": sum(b.batches for b in net.batchers),
                                "images": sum(b.images for b in net.batchers)} for id, net in s.nets.items()}}

    @app.get("/v1/model", tags=["api"], summary="the net: arch, classes, preprocessing, source; and the others served")
    async def model(model: str | None = api.MODEL, s: Served = Depends(served)) -> dict:
        return {**s.net(model).describe(), "models": list(s.nets), "default": s.default_id,
                "index": {"name": s.index_name, "size": len(s.index), "layer": s.index.layer} if s.index else None,
                "examples": len(s.examples), "patches": s.patches is not None,
                "limits": {"max_body_bytes": s.settings.max_body_bytes, "max_files": s.settings.max_files,
                           "max_pixels": s.settings.max_pixels, "timeout_s": s.settings.timeout_s,
                           "max_batch": s.settings.max_batch}}
