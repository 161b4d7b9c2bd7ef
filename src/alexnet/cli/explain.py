"""alexnet explain SUBCOMMAND WEIGHTS …: inside AlexNet (the paper's Figure 3 measured, and
Zeiler & Fergus's top patches, deconvnet, occlusion and feature evolution; Grad-CAM and guided
backpropagation). Each writes a PNG (--png) and the numbers behind it (--json)."""

from __future__ import annotations

import argparse
import json
import sys

from .args import add_device, add_weights, positive_int

ORDER = 55


def map_list(text: str) -> list[int]:
    """'0,5,9' or '0-7' or '0-3,12' → [ints]."""
    out: list[int] = []
    try:
        for part in text.split(","):
            lo, _, hi = part.partition("-")
            out.extend(range(int(lo), int(hi) + 1) if hi else [int(lo)])
    except ValueError:
        raise argparse.ArgumentTypeError(f"maps must look like 0,5,9 or 0-7, got {text!r}") from None
    return out


def _outputs(p: argparse.ArgumentParser) -> None:
    p.add_argument("--png", help="draw the picture into this PNG")
    p.add_argument("--json", help="write the numbers behind it (with provenance) to this JSON file")
    add_device(p)


def _images(p: argparse.ArgumentParser, many: bool = True) -> None:
    p.add_argument("data", nargs="+" if many else 1, metavar="IMAGES" if many else "IMAGE",
                   help="image files or folders (walked recursively), or one prepared store / fashion-mnist"
                   if many else "one image file")
    if many:
        p.add_argument("--split", default="val", help="split of a prepared store (default: %(default)s)")
        p.add_argument("--limit", type=positive_int, help="look at the first N images only")


def _layer(p: argparse.ArgumentParser, default: str = "conv2") -> None:
    from alexnet.use.activations import CONV_LAYERS
    p.add_argument("--layer", default=default, help=f"{', '.join(CONV_LAYERS)} (default: %(default)s)")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("explain", help="inside the net: top patches, deconvnet, occlusion, evolution, "
                                              "towers, saliency",
                              description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="method", metavar="SUBCOMMAND", required=True)
    q = sub.add_parser("top-patches", help="the k image patches that drive each map hardest (Zeiler & Fergus Fig. 2)")
    add_weights(q)
    _images(q)
    _layer(q)
    q.add_argument("--maps", type=map_list, default=map_list("0-7"), help="e.g. 0,5,9 or 0-7 (default: 0-7)")
    q.add_argument("--k", type=positive_int, default=9, help="patches per map (default: %(default)s)")
    q.add_argument("--batch-size", type=positive_int, default=64)
    _outputs(q)
    q.set_defaults(func=run_top_patches, deconv=False)
    q = sub.add_parser("deconv", help="deconvnet projections (Fig. 2): one image's strongest maps, or each "
                                      "map's k strongest images")
    add_weights(q)
    _images(q)
    _layer(q)
    q.add_argument("--maps", type=map_list, help="maps to project (default: one image: its --top strongest "
                                                 "maps; several: 0-7)")
    q.add_argument("--top", type=positive_int, default=9, help="one image: how many strongest maps (default: 9)")
    q.add_argument("--k", type=positive_int, default=9, help="several images: images per map (default: 9)")
    q.add_argument("--batch-size", type=positive_int, default=64)
    _outputs(q)
    q.set_defaults(func=run_deconv, deconv=True)
    q = sub.add_parser("occlusion", help="a grey square slid over an image: p(class), conv5, top class (Fig. 7)")
    add_weights(q)
    _images(q, many=False)
    q.add_argument("--target", help="class index or name (default: the top-1 class of the whole image)")
    q.add_argument("--patch", type=positive_int, help="side of the square in input pixels (default: 1/7 of it)")
    q.add_argument("--stride", type=positive_int, help="step of the square (default: half its side)")
    _outputs(q)
    q.set_defaults(func=run_occlusion)
    _register_evolution(sub)
    q = sub.add_parser("towers", help="conv1 kernels tower by tower, colour specificity per tower (Figure 3)")
    add_weights(q)
    _outputs(q)
    q.set_defaults(func=run_towers)
    q = sub.add_parser("saliency", help="Grad-CAM on conv5 and guided backpropagation of each image")
    add_weights(q)
    q.add_argument("data", nargs="+", metavar="IMAGE", help="image files or folders")
    q.add_argument("--target", help="class index or name (default: each image's top-1 class)")
    _outputs(q)
    q.set_defaults(func=run_saliency, split="val", limit=8)


def _register_evolution(sub) -> None:
    q = sub.add_parser("evolution", help="the strongest activation of chosen maps at each kept epoch (Fig. 4)",
                       description="Reads RUN_DIR/epochs/ (written by training with --set keep_epoch_weights=true) "
                                   "and RUN_DIR/model.safetensors.")
    q.add_argument("weights", metavar="RUN_DIR", help="a run directory trained with keep_epoch_weights=true")
    _images(q)
    q.add_argument("--layers", default="conv1,conv2,conv3,conv4,conv5", help="default: %(default)s")
    q.add_argument("--maps", type=map_list, default=map_list("0-3"), help="maps of each layer to draw (default: 0-3)")
    q.add_argument("--batch-size", type=positive_int, default=64)
    _outputs(q)
    q.set_defaults(func=run_evolution)


def _setup(args: argparse.Namespace):
    from alexnet.explain.sources import open_image_set
    from alexnet.use import Predictor
    predictor = Predictor(args.weights, args.device)
    images = open_image_set(predictor, args.data, split=getattr(args, "split", "val"), limit=getattr(args, "limit", None))
    for path, reason in images.failures:
        print(f"skipped {path}: {reason}", file=sys.stderr)
    return predictor, images


def _finish(args: argparse.Namespace, record: dict, summary: str) -> int:
    from alexnet.explain.commands import write_json
    if args.json:
        write_json(record, args.json)
    print(summary)
    for path in (args.png, args.json):
        if path:
            print(f"wrote {path}")
    return 0


def run_top_patches(args: argparse.Namespace) -> int:
    from alexnet.explain.commands import top_patches_command
    predictor, images = _setup(args)
    r = top_patches_command(predictor, images, args.layer, args.maps, args.k, deconv=args.deconv, png=args.png,
                            batch_size=args.batch_size)
    lines = [f"{args.layer} map {m}: " + ", ".join(f"{p['activation']:.3g}" for p in patches)
             for m, patches in r["maps"].items()]
    return _finish(args, r, "\n".join(lines))


def run_deconv(args: argparse.Namespace) -> int:
    from alexnet.explain.commands import deconv_image_command
    predictor, images = _setup(args)
    if len(images) > 1:
        args.maps = args.maps or map_list("0-7")
        return _top_with_deconv(args, predictor, images)
    r = deconv_image_command(predictor, images, args.layer, args.maps, args.top, png=args.png)
    return _finish(args, r, "\n".join(f"{args.layer} map {u['map']}: {u['activation']:.4g} at ({u['y']}, {u['x']})"
                                      for u in r["units"]))


def _top_with_deconv(args, predictor, images) -> int:
    from alexnet.explain.commands import top_patches_command
    r = top_patches_command(predictor, images, args.layer, args.maps, args.k, deconv=True, png=args.png,
                            batch_size=args.batch_size)
    return _finish(args, r, f"{args.layer}: {len(r['maps'])} maps × {args.k} strongest images projected")


def run_occlusion(args: argparse.Namespace) -> int:
    from alexnet.explain.commands import occlusion_command
    predictor, images = _setup(args)
    r = occlusion_command(predictor, images, args.target, patch=args.patch, stride=args.stride, png=args.png)
    low = min(min(row) for row in r["probability"])
    return _finish(args, r, f"{r['image']}: p({r['target_name']}) = {r['target_probability']:.4f} unoccluded, "
                            f"{low:.4f} at its lowest ({len(r['rows'])}×{len(r['cols'])} positions of a "
                            f"{r['patch']}-px square)")


def run_towers(args: argparse.Namespace) -> int:
    from alexnet.explain.commands import towers_command
    from alexnet.use import Predictor
    r = towers_command(Predictor(args.weights, "cpu"), png=args.png)
    text = (", ".join(f"tower {t + 1}: {v:.3f}" for t, v in enumerate(r["per_tower"]))
            if r["per_tower"] else "not measured")
    return _finish(args, r, f"colour specificity: {text}" + (f"\nnote: {r['message']}" if r["message"] else ""))


def run_saliency(args: argparse.Namespace) -> int:
    from alexnet.explain.commands import saliency_command
    predictor, images = _setup(args)
    r = saliency_command(predictor, images, args.target, png=args.png)
    return _finish(args, r, "\n".join(f"{i['path']}: {i['target_name']} (p = {i['probability']:.3f}), Grad-CAM "
                                      f"from {i['cam_min']:.3g} to {i['cam_max']:.3g}" for i in r["images"]))


def run_evolution(args: argparse.Namespace) -> int:
    from alexnet.explain.commands import evolution_command
    from alexnet.explain.evolution import final_weights
    args.weights = str(final_weights(args.weights))
    predictor, images = _setup(args)
    layers = [s.strip() for s in args.layers.split(",") if s.strip()]
    r = evolution_command(predictor, images, args.weights, layers, args.maps, png=args.png,
                          batch_size=args.batch_size)
    return _finish(args, r, json.dumps(r["settled_epoch"]))
