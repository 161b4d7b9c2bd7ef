"""Run the server with uvicorn: loopback by default, a clean stop on SIGINT/SIGTERM.

    serve(["runs/demo/model.safetensors"], host="127.0.0.1", port=8000, examples="photos/")

uvicorn's own signal handling stops taking connections on SIGINT or SIGTERM, lets requests in
flight finish (at most ``graceful_s`` seconds), then runs the app's shutdown: the batchers answer
what is still queued with 503 and the worker thread is joined. The process then exits with 0.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import signal
import sys
from typing import Sequence

from .settings import Settings


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(weights: Sequence[str | os.PathLike], *, host: str = "127.0.0.1", port: int = 8000,
          settings: Settings | None = None, index: str | None = None, examples: str | None = None,
          patches_from: str | None = None, device: str | None = None, graceful_s: float = 10.0,
          log_level: str = "info", threads: int | None = None) -> None:
    """Load the nets and serve until SIGINT/SIGTERM. ``threads``: torch's intra-op threads (default: torch's)."""
    try:
        import uvicorn
        from .app import create_app
        from .state import Served
    except ImportError as e:
        raise ImportError(f"alexnet serve needs FastAPI and uvicorn ({e}); pip install -e \".[serve]\"") from None
    if threads is not None:
        import torch
        torch.set_num_threads(threads)
    state = Served.load(weights, settings=settings, index=index, examples=examples, patches_from=patches_from,
                        device=device)
    if not is_loopback(host):
        print(f"alexnet serve: warning: listening on {host}, reachable from other machines; the API has no "
              f"authentication", file=sys.stderr)
    nets = ", ".join(f"{id} ({net.arch}, {len(net.predictor.class_names)} classes)" for id, net in state.nets.items())
    print(f"alexnet serve: {nets} on http://{host}:{port}/ (API: /docs); Ctrl+C stops", file=sys.stderr, flush=True)
    config = uvicorn.Config(create_app(state), host=host, port=port, log_level=log_level,
                            timeout_graceful_shutdown=graceful_s, access_log=False)
    server = _server_class(uvicorn)(config)
    server.run()
    print(f"alexnet serve: stopped{server.stopped_by}", file=sys.stderr)


def _server_class(uvicorn):
    class Server(uvicorn.Server):
        """uvicorn's server, except that a SIGINT/SIGTERM that stopped it cleanly is not raised again
        afterwards (uvicorn re-raises it, which would kill the process with the signal's status)."""

        stopped_by = ""

        @contextlib.contextmanager
        def capture_signals(self):
            with super().capture_signals():
                yield
                if self._captured_signals:
                    self.stopped_by = f" ({signal.Signals(self._captured_signals[0]).name})"
                self._captured_signals.clear()

    return Server
