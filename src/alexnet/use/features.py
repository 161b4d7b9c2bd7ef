"""Extract fc7 (or fc6, pool5) vectors for a set of images into a :class:`FeatureIndex` file.

    index, failures = extract_features(predictor, find_images(["photos/"]), layer="fc7")
    index.save("photos.fc7.safetensors")

Shows progress (:class:`alexnet.progress.Progress`: a bar on a terminal, a line per interval
elsewhere) and, when ``log`` is given, appends JSONL ``progress`` records (``desc``, ``done``,
``total``, ``per_s``, ``elapsed_s``, ``failed``) every ``log_every_s`` seconds and at the end. Unreadable images are skipped and returned as (path, reason); they never stop the run.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import torch

from ..jsonl import JsonlWriter
from ..progress import Progress
from ..weights import file_sha256
from .images import ImageReadError, open_image
from .predict import Predictor
from .retrieve import FeatureIndex


def extract_features(predictor: Predictor, paths: Sequence[str | os.PathLike], layer: str = "fc7", *,
                     log: str | os.PathLike | None = None, log_every_s: float = 10.0,
                     progress: bool | None = None) -> tuple[FeatureIndex, list[tuple[str, str]]]:
    """Run ``predictor`` over ``paths`` in batches → (index of the readable images, failures).

    ``progress``: None (default) shows progress on rank 0 (a bar on a terminal, a line per interval
    elsewhere); False: silent.
    """
    rows: list[torch.Tensor] = []
    kept: list[str] = []
    failures: list[tuple[str, str]] = []
    log_file = JsonlWriter(log)
    try:
        with Progress(len(paths), f"{layer} features", unit="img", show=progress, log=log_file,
                      interval_s=log_every_s) as bar:
            for start in range(0, len(paths), predictor.batch_size):
                batch = []
                for path in paths[start:start + predictor.batch_size]:
                    try:
                        batch.append(open_image(path, predictor.channels))
                        kept.append(str(path))
                    except ImageReadError as e:
                        failures.append((str(path), e.reason))
                if batch:
                    rows.append(predictor.features(batch, layer=layer))
                bar.set(min(start + predictor.batch_size, len(paths)), failed=len(failures))
    finally:
        log_file.close()
    features = torch.cat(rows) if rows else torch.empty(0, 0)
    weights = predictor.weights_path or ""
    index = FeatureIndex(features, kept, layer=layer, weights=weights,
                         weights_sha256=file_sha256(weights) if weights and Path(weights).is_file() else "")
    return index, failures
