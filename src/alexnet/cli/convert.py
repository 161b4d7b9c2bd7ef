"""``alexnet convert``: other projects' weights in (torchvision, Caffe, ONNX), torchvision's out.

    alexnet convert torchvision ~/.cache/torch/hub/checkpoints/alexnet-owt-7be5be79.pth --out owt.safetensors
    alexnet convert torchvision torchvision:IMAGENET1K_V1 --out owt.safetensors
    alexnet convert caffe bvlc_alexnet.caffemodel --mean imagenet_mean.binaryproto --out bvlc.safetensors
    alexnet convert onnx bvlcalexnet-12.onnx --out bvlc.safetensors
    alexnet convert to-torchvision runs/tv/model.safetensors --out mine.pth
"""

from __future__ import annotations

import argparse

ORDER = 45

_SOURCES = {  # source → (help, SRC help); each is an importer of alexnet.weights.importers
    "torchvision": ("a torchvision AlexNet .pth → model.safetensors (arch alexnet_owt)",
                    "alexnet-owt-7be5be79.pth (as torch.hub caches it), any state dict of torchvision.models.alexnet, "
                    "or torchvision:IMAGENET1K_V1"),
    "caffe": ("a Caffe .caffemodel of bvlc_alexnet's net → model.safetensors (arch alexnet2012, the paper's net)",
              "bvlc_alexnet.caffemodel (any layout: layer, V1 layers, V0), or caffe:bvlc_alexnet"),
    "onnx": ("an ONNX AlexNet with groups and LRN (the model zoo's bvlcalexnet) → model.safetensors (alexnet2012), "
             "checked against onnxruntime", "bvlcalexnet-12.onnx or any opset of it"),
}


def run_convert_from(args: argparse.Namespace) -> int:
    from alexnet.use.weights_files import convert_weights
    options = {"mean": args.mean} if getattr(args, "mean", None) else {}
    r = convert_weights(args.direction, args.src, args.out, **options)
    names = "ImageNet's 1000 class names" if r["imagenet_class_names"] else f"{r['num_classes']} numbered classes"
    src = r["source"]
    digest = "sha1 " + src["sha1"] if "sha1" in src else "sha256 " + src["sha256"][:16] + "…"
    pre = r["preprocessing"]
    args_text = ", ".join(f"{k}={v}" for k, v in r["model_kwargs"].items() if k.startswith(("lrn_k", "lrn_per",
                                                                                             "input_size")))
    print(f"wrote {r['out']}: {r['arch']}{f' ({args_text})' if args_text else ''}, {names}, input "
          f"{pre.get('crop')}×{pre.get('crop')} {pre.get('channel_order', 'RGB')}; source {src['file']} ({digest})")
    return 0


def run_convert_to_torchvision(args: argparse.Namespace) -> int:
    from alexnet.use.weights_files import convert_to_torchvision
    r = convert_to_torchvision(args.weights, args.out)
    print(f"wrote {r['out']}: a state dict of {r['tensors']} tensors that torchvision.models.alexnet("
          f"num_classes={r['num_classes']}) loads strictly")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("convert", help="other projects' AlexNet weights in (torchvision, Caffe, ONNX), "
                                              "alexnet_owt weights out",
                              description="Convert weights from torchvision's .pth, Caffe's .caffemodel or ONNX to "
                                          "this project's model.safetensors (with class names and preprocessing), "
                                          "and alexnet_owt weights to torchvision's format.")
    sub = p.add_subparsers(dest="direction", metavar="DIRECTION", required=True)
    for source, (help_text, src_help) in _SOURCES.items():
        q = sub.add_parser(source, help=help_text, description=help_text)
        q.add_argument("src", metavar="SRC", help=src_help)
        if source == "caffe":
            q.add_argument("--mean", metavar="BINARYPROTO", help="the mean image (imagenet_mean.binaryproto, "
                           "1×3×256×256 BGR); default: that file beside SRC if there, else Caffe's per-channel mean")
        q.add_argument("--out", required=True, help="the .safetensors file to write")
        q.set_defaults(func=run_convert_from)
    q = sub.add_parser("to-torchvision", help="alexnet_owt model.safetensors → a torchvision .pth state dict")
    q.add_argument("weights", metavar="WEIGHTS", help="alexnet_owt weights written by this project")
    q.add_argument("--out", required=True, help="the .pth file to write")
    q.set_defaults(func=run_convert_to_torchvision)
