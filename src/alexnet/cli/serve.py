"""``alexnet serve``: a web page to explore a trained net, and a JSON API (alexnet.serve)."""

from __future__ import annotations

import argparse

from .args import WEIGHTS_HELP, add_device, positive_int

ORDER = 55


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "serve", help="a web page to explore the net, and a JSON API (needs .[serve])",
        description="Serve one or more trained nets over HTTP: a page (drop an image, see the top-5, look at "
                    "each layer's feature maps, the nearest images of --index) and a JSON API documented at "
                    "/docs (POST /v1/predict answers as `alexnet predict --json`). Requests that arrive within "
                    "a few milliseconds share one forward pass. Loopback only unless --host says otherwise.")
    p.add_argument("weights", nargs="+", metavar="WEIGHTS", help=WEIGHTS_HELP + "; the first is the default")
    p.add_argument("--index", metavar="FEATURES", help="fc7 index written by `alexnet features`: nearest neighbours")
    p.add_argument("--patches-from", metavar="FOLDER_OR_STORE",
                   help="images to find each unit's top-9 patches in (the explain panels)")
    p.add_argument("--examples", metavar="FOLDER", help="example images the page offers (served by number)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s, this machine only)")
    p.add_argument("--port", type=int, default=8000, help="default: %(default)s")
    p.add_argument("--max-batch", type=positive_int, default=32,
                   help="images per forward pass (default: %(default)s; 1 turns dynamic batching off)")
    p.add_argument("--batch-wait-ms", type=float, default=5.0,
                   help="how long a batch waits for more requests (default: %(default)s)")
    p.add_argument("--queue", type=positive_int, default=64,
                   help="requests waiting before the server answers 503 (default: %(default)s)")
    p.add_argument("--max-upload-mb", type=float, default=20.0, help="request body limit, 413 above (default: %(default)s)")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds per request, 504 after (default: %(default)s)")
    p.add_argument("--threads", type=positive_int,
                   help="torch threads for the forward passes (default: torch's, one per core); 1 holds up better "
                        "on a machine busy with other work")
    add_device(p)
    p.set_defaults(func=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    from alexnet.serve.run import serve
    from alexnet.serve.settings import Settings
    if args.max_upload_mb <= 0 or args.timeout <= 0:
        raise ValueError("--max-upload-mb and --timeout must be positive")
    settings = Settings(max_batch=args.max_batch, max_wait_ms=args.batch_wait_ms, queue_size=args.queue,
                        max_body_bytes=int(args.max_upload_mb * (1 << 20)), timeout_s=args.timeout)
    serve(args.weights, host=args.host, port=args.port, settings=settings, index=args.index,
          examples=args.examples, patches_from=args.patches_from,
          device=args.device, threads=args.threads)
    return 0
