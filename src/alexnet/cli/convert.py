"""``alexnet convert``: weights in and out of torchvision's format.

    alexnet convert torchvision ~/.cache/torch/hub/checkpoints/alexnet-owt-7be5be79.pth --out owt.safetensors
    alexnet convert torchvision torchvision:IMAGENET1K_V1 --out owt.safetensors
    alexnet convert to-torchvision runs/tv/model.safetensors --out mine.pth
"""

from __future__ import annotations

import argparse

ORDER = 45


def run_convert_from_torchvision(args: argparse.Namespace) -> int:
    from alexnet.use.convert import convert_from_torchvision
    r = convert_from_torchvision(args.src, args.out)
    names = "ImageNet's 1000 class names" if r["imagenet_class_names"] else f"{r['num_classes']} numbered classes"
    print(f"wrote {r['out']}: {r['arch']}, {names}, torchvision's preprocessing; source {r['source']['file']} "
          f"(sha256 {r['source']['sha256'][:16]}…)")
    return 0


def run_convert_to_torchvision(args: argparse.Namespace) -> int:
    from alexnet.use.convert import convert_to_torchvision
    r = convert_to_torchvision(args.weights, args.out)
    print(f"wrote {r['out']}: a state dict of {r['tensors']} tensors that torchvision.models.alexnet("
          f"num_classes={r['num_classes']}) loads strictly")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("convert", help="torchvision AlexNet weights in (and alexnet_owt weights out)",
                              description="Convert weights between torchvision's .pth state dicts and this "
                                          "project's model.safetensors (with class names and preprocessing).")
    sub = p.add_subparsers(dest="direction", metavar="DIRECTION", required=True)
    q = sub.add_parser("torchvision", help="a torchvision AlexNet .pth → model.safetensors (arch alexnet_owt)",
                       description="Read a state dict of torchvision.models.alexnet (torch.load(weights_only=True)) "
                                   "and write it with ImageNet's class names (1000 outputs), torchvision's "
                                   "preprocessing and the source file's sha256.")
    q.add_argument("src", metavar="SRC", help="alexnet-owt-7be5be79.pth (as torch.hub caches it), any state dict of "
                                              "torchvision.models.alexnet, or torchvision:IMAGENET1K_V1")
    q.add_argument("--out", required=True, help="the .safetensors file to write")
    q.set_defaults(func=run_convert_from_torchvision)
    q = sub.add_parser("to-torchvision", help="alexnet_owt model.safetensors → a torchvision .pth state dict")
    q.add_argument("weights", metavar="WEIGHTS", help="alexnet_owt weights written by this project")
    q.add_argument("--out", required=True, help="the .pth file to write")
    q.set_defaults(func=run_convert_to_torchvision)
