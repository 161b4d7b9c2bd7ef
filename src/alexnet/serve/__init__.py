"""``alexnet serve``: a web page to explore a trained AlexNet and a JSON API (FastAPI + uvicorn).

    from alexnet.serve import Served, Settings, create_app
    app = create_app(Served.load(["runs/demo/model.safetensors"], examples="photos/"))

Modules: :mod:`~alexnet.serve.batching` (dynamic batching, back-pressure), :mod:`~alexnet.serve.nets`
(the served nets, examples), :mod:`~alexnet.serve.uploads` (reading images from requests, the body
limit), :mod:`~alexnet.serve.api` (predict, features), :mod:`~alexnet.serve.explore` (layers, maps,
neighbours), :mod:`~alexnet.serve.app` (the application), :mod:`~alexnet.serve.run` (uvicorn,
signals). The page is ``static/`` (HTML, CSS, JS; no CDN, no build step). Needs ``pip install
-e ".[serve]"``.
"""

from .settings import Settings

__all__ = ["Served", "Settings", "create_app"]


def __getattr__(name):  # FastAPI is an optional extra: imported only when the server is used
    if name == "create_app":
        from .app import create_app
        return create_app
    if name == "Served":
        from .state import Served
        return Served
    raise AttributeError(name)
