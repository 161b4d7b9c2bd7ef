"""Each epoch's convolutional weights, kept for Zeiler & Fergus's feature evolution (their Fig. 4).

    save_epoch_features(run_dir, model, epoch)     # RUN/epochs/epoch-003.safetensors: features.* only
    for epoch, path in list_epoch_features(run_dir): ...
    load_epoch_features(model, path)               # into a net of the same architecture

With ``keep_epoch_weights=true`` the trainer calls :func:`save_epoch_features` at the end of every
epoch (``epoch`` = epochs completed, so epoch-001 is the net after its first epoch). Only the
``features.*`` tensors are kept (the conv layers: 2.3 M parameters, 9 MB, for the demo's net; the
fc layers, which evolution does not look at, would add 18-59 M). The file is safetensors with its
epoch and architecture in the metadata.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from ..atomic import atomic_path

EPOCHS_DIR = "epochs"
FORMAT = "alexnet-epoch-features/1"
_NAME = re.compile(r"epoch-(\d+)\.safetensors$")


def epoch_path(run_dir: str | os.PathLike, epoch: int) -> Path:
    return Path(run_dir) / EPOCHS_DIR / f"epoch-{epoch:03d}.safetensors"


def save_epoch_features(run_dir: str | os.PathLike, model: nn.Module, epoch: int) -> Path:
    """Write ``model``'s ``features.*`` tensors after ``epoch`` completed epochs (atomically)."""
    state = {k: v.detach().float().cpu().contiguous() for k, v in model.state_dict().items()
             if k.startswith("features.")}
    path = epoch_path(run_dir, epoch)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata={"format": FORMAT, "epoch": str(epoch),
                                              "arch": str(getattr(model, "arch", type(model).__name__))})
    return path


def list_epoch_features(run_dir: str | os.PathLike) -> list[tuple[int, Path]]:
    """[(epoch, path)] of the kept epochs, in order; a ValueError when there are none."""
    folder = Path(run_dir) / EPOCHS_DIR
    found = sorted((int(m.group(1)), p) for p in folder.glob("epoch-*.safetensors") if (m := _NAME.search(p.name)))
    if not found:
        raise ValueError(f"{run_dir} has no kept epochs ({folder}/epoch-NNN.safetensors): train it with "
                         f"--set keep_epoch_weights=true")
    return found


def load_epoch_features(model: nn.Module, path: str | os.PathLike) -> nn.Module:
    """Load a kept epoch's conv weights into ``model`` (in place; fc layers untouched) and return it."""
    with safe_open(str(path), framework="pt") as f:
        state = {k: f.get_tensor(k) for k in f.keys()}
    own = {k for k in model.state_dict() if k.startswith("features.")}
    if set(state) != own:
        raise ValueError(f"{path} does not fit {type(model).__name__}: its conv tensors are "
                         f"{sorted(state)[:3]}…, the net's {sorted(own)[:3]}…")
    model.load_state_dict(state, strict=False)     # strict on features.* (checked above); fc layers kept
    return model
