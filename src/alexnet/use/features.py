"""Extract fc7 (or fc6, pool5) vectors for a set of images into a :class:`FeatureIndex` file.

    index, failures = extract_features(predictor, find_images(["photos/"]), layer="fc7")
    index.save("photos.fc7.safetensors")

Shows a tqdm bar on a terminal and, when ``log`` is given, appends JSONL ``progress`` records
(``done``, ``total``, ``failed``, ``images_per_s``, ``elapsed_s``; :class:`alexnet.jsonl.JsonlWriter`)
every ``log_every_s`` seconds and at the end. Unreadable images are skipped and returned as (path, reason); they never stop the run.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Sequence

import torch
from tqdm import tqdm

from ..jsonl import JsonlWriter
from ..weights import file_sha256
from .images import ImageReadError, open_image
from .predict import Predictor
from .retrieve import FeatureIndex


def extract_features(predictor: Predictor, paths: Sequence[str | os.PathLike], layer: str = "fc7", *,
                     log: str | os.PathLike | None = None, log_every_s: float = 10.0,
                     progress: bool | None = None) -> tuple[FeatureIndex, list[tuple[str, str]]]:
    """Run ``predictor`` over ``paths`` in batches → (index of the readable images, failures).

    ``progress``: show a bar (default: only when stderr is a terminal).
    """
    show = sys.stderr.isatty() if progress is None else progress
    rows: list[torch.Tensor] = []
    kept: list[str] = []
    failures: list[tuple[str, str]] = []
    started = last_log = time.monotonic()
    log_file = JsonlWriter(log)

    def write_log(done: int) -> None:
        elapsed = time.monotonic() - started
        log_file.write("progress", done=done, total=len(paths), failed=len(failures),
                       images_per_s=round(done / elapsed, 2) if elapsed > 0 else None, elapsed_s=round(elapsed, 2))

    try:
        with tqdm(total=len(paths), unit="img", desc=f"{layer} features", disable=not show) as bar:
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
                done = min(start + predictor.batch_size, len(paths))
                bar.update(done - bar.n)
                if time.monotonic() - last_log >= log_every_s:
                    write_log(done)
                    last_log = time.monotonic()
        write_log(len(paths))
    finally:
        log_file.close()
    features = torch.cat(rows) if rows else torch.empty(0, 0)
    weights = predictor.weights_path or ""
    index = FeatureIndex(features, kept, layer=layer, weights=weights,
                         weights_sha256=file_sha256(weights) if weights and Path(weights).is_file() else "")
    return index, failures
