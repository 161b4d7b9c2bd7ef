"""Weights: our safetensors files, which file a user means, and other projects' files imported.

- :mod:`.format`: our ``model.safetensors`` (weights + arch, model arguments, class names,
  preprocessing, config, metrics, source): :func:`save_weights`, :func:`load_weights`.
- :mod:`.resolve`: paths, run directories and the tags ``torchvision:IMAGENET1K_V1`` and
  ``caffe:bvlc_alexnet`` (:func:`cached_asset`: a tag → its file in torch.hub's cache).
- :mod:`.importers`: one module per source (torchvision's ``.pth``, Caffe's ``.caffemodel``,
  ``.onnx``), registered by source name; :func:`read_weights` and ``alexnet convert`` dispatch there.
- :mod:`.forensics`: what a file that is not what was expected actually is, for clear errors.

Nothing here unpickles code: safetensors for our files, ``weights_only=True`` for torch files, a
protobuf wire reader for Caffe's.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from .forensics import TORCH_FILE_STARTS, describe_head, load_torch_state_dict
from .format import (CHECKPOINT_NAME, FORMAT, PREPROCESS_PREFIX, WEIGHTS_NAME, WeightsMeta, file_digest,
                     file_sha256, is_safetensors, load_weights, save_weights)
from .importers import IMPORTERS, get_importer, importer_for, register_importer
from .importers.torchvision import (TORCHVISION_PREPROCESSING, load_torchvision_state_dict, read_torchvision,
                                    torchvision_meta)
from .resolve import (CAFFE_FILE, CAFFE_TAG, NAMED_ASSETS, TORCHVISION_FILE, TORCHVISION_TAG, cached_asset,
                      hub_checkpoints_dir, resolve_weights_path, torchvision_cache_path)


def read_weights(spec: str | os.PathLike) -> tuple[Path, dict[str, torch.Tensor], WeightsMeta]:
    """(file, state dict, metadata) of any weights a command accepts (:mod:`.resolve`): our
    safetensors files directly, any other file through the importer that claims it."""
    path = resolve_weights_path(spec)
    with open(path, "rb") as f:
        head = f.read(16)
    if is_safetensors(path, head):
        state, meta = load_weights(path)
    else:
        state, meta = importer_for(path, head).read(path)
    return path, state, meta


__all__ = ["CAFFE_FILE", "CAFFE_TAG", "CHECKPOINT_NAME", "FORMAT", "IMPORTERS", "NAMED_ASSETS", "PREPROCESS_PREFIX",
           "TORCHVISION_FILE", "TORCHVISION_PREPROCESSING", "TORCHVISION_TAG", "TORCH_FILE_STARTS", "WEIGHTS_NAME",
           "WeightsMeta", "cached_asset", "describe_head", "file_digest", "file_sha256", "get_importer",
           "hub_checkpoints_dir", "importer_for", "is_safetensors", "load_torch_state_dict",
           "load_torchvision_state_dict", "load_weights", "read_torchvision", "read_weights", "register_importer",
           "resolve_weights_path", "save_weights", "torchvision_cache_path", "torchvision_meta"]
