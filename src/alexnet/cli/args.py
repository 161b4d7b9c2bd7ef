"""Argument helpers every ``alexnet`` command shares: one spelling, one default, one help text."""

from __future__ import annotations

import argparse
import os

WEIGHTS_HELP = ("model.safetensors written by `alexnet train`/`alexnet demo` (or its run directory), a torchvision "
                "AlexNet .pth, or torchvision:IMAGENET1K_V1 (torch.hub's cached copy)")


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def add_device(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto",
                   help="auto (CUDA, else Apple's MPS, else the CPU), cpu, cuda, cuda:1, mps, ...")


def add_weights(p: argparse.ArgumentParser, name: str = "weights") -> None:
    p.add_argument(name, metavar="WEIGHTS", help=WEIGHTS_HELP)


def is_main_process() -> bool:
    """Rank 0 of a torchrun job, or a plain process: the one that prints the final line."""
    return int(os.environ.get("RANK", "0")) == 0


def expand_user_paths(args: argparse.Namespace) -> argparse.Namespace:
    """Expand a leading ``~`` in every string argument (and list of strings), in place.

    The shell expands ``~`` only at the start of a word, so ``--out=~/runs/x`` arrives as the
    literal ``~/runs/x``: used as it is, it creates a folder named ``~`` in the working
    directory (and cleaning that up invites ``rm -rf ~``)."""
    def expand(value):
        if isinstance(value, str) and value.startswith("~"):
            return os.path.expanduser(value)
        if isinstance(value, list):
            return [expand(v) for v in value]
        return value

    for key, value in vars(args).items():
        if key not in ("set", "func", "command"):     # --set KEY=VALUE is parsed by the config
            setattr(args, key, expand(value))
    return args
