"""What ``alexnet evaluate`` writes and prints: result files, the paper's numbers beside the run."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import numpy as np
from torch import Tensor

from ..atomic import atomic_path, atomic_write_text

# SPEC §4: what the paper and its peers report on ILSVRC, as error percentages (top-1, top-5).
PAPER_RESULTS: list[tuple[str, float, float, str]] = [
    ("paper: 1 CNN, 10-view", 37.5, 17.0, "ILSVRC-2010 test"),
    ("paper: 1 CNN", 40.7, 18.2, "ILSVRC-2012 val"),
    ("paper: 5 CNNs averaged", 38.1, 16.4, "ILSVRC-2012 val"),
    ("paper: 7 CNNs* (22k pre-training)", 36.7, 15.4, "ILSVRC-2012 val"),
    ("Caffe bvlc_alexnet, centre crop", 42.9, 19.8, "ILSVRC-2012 val"),
    ("torchvision alexnet (one tower), centre crop", 43.48, 20.93, "ILSVRC-2012 val"),
    ("cuda-convnet2 1-GPU net, 10-view", 40.42, 18.15, "ILSVRC-2012 val"),
]
PAPER_NUM_CLASSES = 1000
LOG_NAME = "evaluate.jsonl"


def paper_comparison(result: dict) -> list[dict]:
    """The SPEC §4 table next to this result, for 1000-class data (empty otherwise)."""
    if result.get("num_classes") != PAPER_NUM_CLASSES:
        return []
    return [{"model": name, "top1_error": t1, "top5_error": t5, "where": where}
            for name, t1, t5, where in PAPER_RESULTS]


def write_outputs(out_dir: Path, result: dict, confusion: Tensor, acc: Tensor, class_names: list[str]) -> dict:
    """confusion.csv / .npy (rows = true class), per_class.json and metrics.json into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {"confusion_csv": out_dir / "confusion.csv", "confusion_npy": out_dir / "confusion.npy",
             "per_class": out_dir / "per_class.json", "metrics": out_dir / "metrics.json",
             "log": out_dir / LOG_NAME}
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["true\\predicted", *class_names])
    for name, row in zip(class_names, confusion.tolist()):
        writer.writerow([name, *row])
    atomic_write_text(files["confusion_csv"], buf.getvalue())
    with atomic_path(files["confusion_npy"]) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, confusion.numpy())
    totals = confusion.sum(dim=1).tolist()
    per_class = [{"index": i, "class": name, "images": totals[i], "correct": int(confusion[i, i]),
                  "accuracy": None if math.isnan(a) else a}
                 for i, (name, a) in enumerate(zip(class_names, acc.tolist()))]
    atomic_write_text(files["per_class"], json.dumps(per_class, indent=1) + "\n")
    result["files"] = {k: str(v) for k, v in files.items()}
    atomic_write_text(files["metrics"], json.dumps(result, indent=1) + "\n")
    return result


def format_result(result: dict) -> str:
    """A readable summary of an evaluation result, with the paper's numbers for 1000 classes."""
    n_ckpt = len(result["checkpoints"])
    what = result["checkpoints"][0] if n_ckpt == 1 else f"ensemble of {n_ckpt} CNNs (softmaxes averaged)"
    view_text = "10-view (4 corners + centre, and flips)" if result["views"] == 10 else "centre crop"
    lines = [
        f"model:   {what}",
        f"data:    {result['data']} [{result['split']}], {result['num_images']} images, "
        f"{result['num_classes']} classes, {view_text}",
        f"top-1 error: {100 * result['top1_error']:6.2f}%   (accuracy {100 * (1 - result['top1_error']):.2f}%)",
        f"top-5 error: {100 * result['top5_error']:6.2f}%   (accuracy {100 * (1 - result['top5_error']):.2f}%)",
        f"loss:        {result['loss']:.4f}",
    ]
    if result.get("per_class_accuracy_mean") is not None:
        lines.append(f"mean per-class accuracy: {100 * result['per_class_accuracy_mean']:.2f}%")
    if result.get("worst_classes"):
        worst = ", ".join(f"{w['class']} {100 * w['accuracy']:.1f}%" for w in result["worst_classes"])
        lines.append(f"hardest classes: {worst}")
    lines.append(f"speed:   {result['images_per_second']} images/s on {result['device']} ({result['seconds']} s)")
    if result.get("paper"):
        lines.append("")
        lines.append(f"{'compared with (SPEC §4)':<46} {'top-1':>7} {'top-5':>7}  where")
        lines.append(f"{'this run':<46} {100 * result['top1_error']:7.2f} {100 * result['top5_error']:7.2f}  "
                     f"{result['split']}")
        for row in result["paper"]:
            lines.append(f"{row['model']:<46} {row['top1_error']:7.2f} {row['top5_error']:7.2f}  {row['where']}")
    if result.get("files"):
        lines.append("")
        lines.append("wrote: " + ", ".join(result["files"].values()))
    return "\n".join(lines)
