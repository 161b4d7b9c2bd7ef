"""``alexnet predict | features | retrieve | visualize | export``: using a trained net.

Every command needs only the weights file: class names, input size and preprocessing ride in it.
"""

from __future__ import annotations

import argparse
import json
import sys

from .args import add_device, add_weights, positive_int

ORDER = 50


def register(subparsers: argparse._SubParsersAction) -> None:
    _register_predict(subparsers)
    _register_features(subparsers)
    _register_retrieve(subparsers)
    _register_visualize(subparsers)
    _register_export(subparsers)


def _register_predict(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "predict", help="top-k classes of images (files or directories)",
        description="Top-k classes with probabilities for each image. Directories are walked "
                    "recursively; unreadable files are reported and skipped. Exit status 0 when at "
                    "least one image was predicted.")
    add_weights(p)
    p.add_argument("images", nargs="+", metavar="IMAGE_OR_DIR")
    p.add_argument("--topk", type=positive_int, default=5, help="classes per image (default: %(default)s)")
    p.add_argument("--views", type=int, choices=(1, 10), default=1,
                   help="1: centre crop; 10: 4 corners + centre and their flips, softmax averaged (the paper)")
    p.add_argument("--batch-size", type=positive_int, default=64, help="images per forward pass (default: %(default)s)")
    p.add_argument("--json", action="store_true", help="print one JSON document instead of text")
    add_device(p)
    p.set_defaults(func=run_predict)


def _register_features(subparsers: argparse._SubParsersAction) -> None:
    from alexnet.use.activations import FEATURE_LAYERS
    p = subparsers.add_parser("features", help="fc7/fc6/pool5 vectors of images into a retrieval index",
        description="Extract the paper's 4096-d fc7 vectors (after ReLU; or fc6, or flattened pool5) of "
                    "every image and write them with their paths to a safetensors index for "
                    "`alexnet retrieve`. A JSONL progress log is written beside it (OUT.log.jsonl).")
    add_weights(p)
    p.add_argument("data", nargs="+", metavar="DATA", help="image files or directories (walked recursively)")
    p.add_argument("--out", required=True, help="index file to write (.safetensors)")
    p.add_argument("--layer", choices=FEATURE_LAYERS, default="fc7", help="default: %(default)s")
    p.add_argument("--batch-size", type=positive_int, default=64, help="default: %(default)s")
    add_device(p)
    p.set_defaults(func=run_features)


def _register_retrieve(subparsers: argparse._SubParsersAction) -> None:
    from alexnet.use.retrieve import BACKENDS, FAISS_MIN_ROWS
    p = subparsers.add_parser("retrieve", help="nearest images to queries by Euclidean fc7 distance (Figure 4, right)",
        description="Nearest neighbours of each query image in an index made by `alexnet features`, by "
                    f"Euclidean distance. Exact search with torch; with --backend auto faiss "
                    f"(IndexFlatL2, also exact) is used when installed and the index has at least "
                    f"{FAISS_MIN_ROWS} rows.")
    add_weights(p)
    p.add_argument("queries", nargs="+", metavar="QUERY", help="query images or directories")
    p.add_argument("--index", required=True, help="index written by `alexnet features`")
    p.add_argument("--k", type=positive_int, default=8, help="neighbours per query (default: %(default)s)")
    p.add_argument("--backend", choices=BACKENDS, default="auto", help="default: %(default)s")
    p.add_argument("--png", help="draw each query beside its neighbours into this PNG")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    add_device(p)
    p.set_defaults(func=run_retrieve)


def _register_visualize(subparsers: argparse._SubParsersAction) -> None:
    from alexnet.use.activations import CONV_LAYERS
    p = subparsers.add_parser("visualize", help="pictures: conv1 filters, feature maps, curves, predictions",
                              description="Draw a PNG of a trained net or a training run.")
    sub = p.add_subparsers(dest="picture", metavar="PICTURE", required=True)
    q = sub.add_parser("filters", help="conv1 kernels, tower by tower (Figure 3)")
    add_weights(q)
    q.add_argument("--png", required=True)
    q.set_defaults(func=run_filters)
    q = sub.add_parser("activations", help="feature maps of one layer for one image")
    add_weights(q)
    q.add_argument("image")
    q.add_argument("--png", required=True)
    q.add_argument("--layer", choices=CONV_LAYERS, default="conv1", help="default: %(default)s")
    add_device(q)
    q.set_defaults(func=run_activations)
    q = sub.add_parser("curves", help="loss, error and learning rate of a run (RUN_DIR/log.jsonl)")
    q.add_argument("run_dir", metavar="RUN_DIR")
    q.add_argument("--png", required=True)
    q.set_defaults(func=run_curves)
    q = sub.add_parser("predictions", help="images with their top-5 bars (Figure 4, left)")
    add_weights(q)
    q.add_argument("images", nargs="+", metavar="IMAGE")
    q.add_argument("--png", required=True)
    q.add_argument("--topk", type=positive_int, default=5, help="default: %(default)s")
    add_device(q)
    q.set_defaults(func=run_predictions)


def _register_export(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("export", help="export to ONNX or TorchScript, checked against PyTorch",
        description="Export the eval-mode net (input: preprocessed float images (N, C, S, S) at the "
                    "weights' crop size; output: logits) and check the file's outputs against "
                    "PyTorch's on a random batch before reporting success.")
    add_weights(p)
    p.add_argument("--format", required=True, choices=("onnx", "torchscript"))
    p.add_argument("--out", required=True)
    p.add_argument("--no-check", action="store_true",
                   help="accept the file without comparing outputs (e.g. onnxruntime not installed)")
    p.set_defaults(func=run_export)


def _report_failures(failures) -> None:
    for path, reason in failures:
        print(f"skipped {path}: {reason}", file=sys.stderr)


def run_predict(args: argparse.Namespace) -> int:
    from alexnet.use import Predictor, find_images
    predictor = Predictor(args.weights, args.device, batch_size=args.batch_size)
    paths = find_images(args.images)
    results = []
    for r in predictor.predict_paths(paths, topk=args.topk, views=args.views):
        results.append(r)
        if r.error is not None:
            print(f"skipped {r.path}: {r.error}", file=sys.stderr)
        elif not args.json:
            print(r.path)
            for name, prob in r.topk:
                print(f"  {prob:7.4f}  {name}")
    predicted = sum(r.error is None for r in results)
    if args.json:
        print(json.dumps({"weights": args.weights, "views": args.views,
                          "predicted": predicted, "failed": len(results) - predicted,
                          "results": [r.to_json() for r in results]}, indent=2))
    if predicted == 0:
        print(f"alexnet predict: error: none of the {len(results)} images could be read", file=sys.stderr)
        return 1
    return 0


def run_features(args: argparse.Namespace) -> int:
    from alexnet.use import Predictor, find_images
    from alexnet.use.features import extract_features
    predictor = Predictor(args.weights, args.device, batch_size=args.batch_size)
    paths = find_images(args.data)
    index, failures = extract_features(predictor, paths, layer=args.layer, log=f"{args.out}.log.jsonl")
    _report_failures(failures)
    if len(index) == 0:
        raise ValueError(f"none of the {len(paths)} images could be read; nothing written")
    index.save(args.out)
    print(f"wrote {args.out}: {len(index)} × {index.features.shape[1]} {args.layer} vectors"
          + (f" ({len(failures)} unreadable images skipped)" if failures else ""))
    return 0


def run_retrieve(args: argparse.Namespace) -> int:
    from alexnet.use import FeatureIndex, Predictor, find_images
    from alexnet.use.images import open_images
    from alexnet.weights import file_sha256
    index = FeatureIndex.load(args.index)
    backend = index.resolve_backend(args.backend)
    predictor = Predictor(args.weights, args.device)
    if index.weights_sha256 and index.weights_sha256 != file_sha256(predictor.weights_path):
        print(f"warning: {args.index} was made with other weights ({index.weights}); distances between "
              f"features of different nets mean nothing", file=sys.stderr)
    opened, failures = open_images(find_images(args.queries), predictor.channels)
    _report_failures(failures)
    if not opened:
        raise ValueError("none of the query images could be read")
    queries = predictor.features([im for _, im in opened], layer=index.layer)
    distances, neighbours = index.search(queries, k=args.k, backend=backend)
    rows = []
    for (path, _), dist, idx in zip(opened, distances.tolist(), neighbours.tolist()):
        rows.append({"query": str(path), "neighbours": [
            {"rank": r + 1, "path": index.paths[j], "distance": d} for r, (d, j) in enumerate(zip(dist, idx))]})
    if args.json:
        print(json.dumps({"index": args.index, "layer": index.layer, "backend": backend,
                          "results": rows}, indent=2))
    else:
        for row in rows:
            print(row["query"])
            for n in row["neighbours"]:
                print(f"  {n['rank']:3d}  {n['distance']:10.4f}  {n['path']}")
    if args.png:
        from alexnet.use.visualize import retrieval_figure
        retrieval_figure([r["query"] for r in rows], [[n["path"] for n in r["neighbours"]] for r in rows],
                         distances, args.png, channels=predictor.channels)
        print(f"wrote {args.png}", file=sys.stderr if args.json else sys.stdout)
    return 0


def _wrote(path) -> int:
    print(f"wrote {path}")
    return 0


def run_filters(args: argparse.Namespace) -> int:
    from alexnet.use import Predictor
    from alexnet.use.visualize import filters_figure
    return _wrote(filters_figure(Predictor(args.weights, "cpu").model, args.png))  # weights only: no device needed


def run_activations(args: argparse.Namespace) -> int:
    from alexnet.use import Predictor
    from alexnet.use.visualize import activations_figure
    return _wrote(activations_figure(Predictor(args.weights, args.device), args.image, args.png, args.layer))


def run_curves(args: argparse.Namespace) -> int:
    from alexnet.train.curves import curves_figure
    return _wrote(curves_figure(args.run_dir, args.png))


def run_predictions(args: argparse.Namespace) -> int:
    from alexnet.use import Predictor
    from alexnet.use.visualize import predictions_figure
    return _wrote(predictions_figure(Predictor(args.weights, args.device), args.images, args.png, topk=args.topk))


def run_export(args: argparse.Namespace) -> int:
    from alexnet.use.export import export_model
    report = export_model(args.weights, args.format, args.out, check=not args.no_check)
    if report["checked_with"] is None:
        print(f"wrote {args.out} with {report['exporter']}; NOT checked (--no-check)")
    else:
        print(f"wrote {args.out} with {report['exporter']}; input {report['input_shape']}; outputs match "
              f"PyTorch on a random batch (max |diff| {report['max_abs_diff']:.2e}, {report['checked_with']})")
    return 0
