"""The issue's acceptance check: a generated 2,000-image dirty ILSVRC-like tree (train folders with
every kind of dirt, flat val with the devkit) — every bad file reported, every good one written once
with its label. The pictures are small and stored at 32 px: what is checked is the bookkeeping, which
does not depend on the stored size."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

import data_fixtures as fx
from alexnet.data.prepare import prepare
from alexnet.data.store import PreparedStore

pytest.importorskip("scipy")

WNIDS = [f"n0{1440764 + 7 * k:07d}" for k in range(10)]
DIRT = {  # every 9th file of a class is dirty, cycling through the kinds
    "cmyk": None, "grey": None, "png_named": None, "rotated": None, "tiny": None, "thin": None,
    "truncated": "corrupt image", "empty": "empty file", "text": "not an image",
}


def dirty_bytes(kind: str, seed: int) -> bytes:
    pic = fx.picture(40, 30, seed)
    return {
        "cmyk": lambda: fx.jpeg_bytes(pic.convert("CMYK")),
        "grey": lambda: fx.jpeg_bytes(pic.convert("L")),
        "png_named": lambda: fx.png_bytes(pic),
        "rotated": fx.exif_rotated_bytes,
        "tiny": lambda: fx.jpeg_bytes(fx.picture(1, 1, seed)),
        "thin": lambda: fx.jpeg_bytes(fx.picture(6, 90, seed)),
        "truncated": lambda: fx.jpeg_bytes(pic)[:200],
        "empty": lambda: b"",
        "text": lambda: b"not an image at all\n",
    }[kind]()


def write_meta_mat(path: Path) -> None:
    from scipy.io import savemat
    dtype = [("ILSVRC2012_ID", "O"), ("WNID", "O"), ("words", "O"), ("gloss", "O"),
             ("num_children", "O"), ("children", "O"), ("wordnet_height", "O"), ("num_train_images", "O")]
    # IDs deliberately in reverse of the sorted order: the ID must never be used as the index
    rows = [(10 - k, w, f"class {k}", "", 0, np.zeros((1, 0)), 0, 1) for k, w in enumerate(WNIDS)]
    savemat(str(path), {"synsets": np.array(rows, dtype=dtype).reshape(-1, 1)})


def make_tree(root: Path, per_class: int = 180, val: int = 200) -> dict[str, dict[str, tuple[int, str | None]]]:
    expected: dict[str, dict[str, tuple[int, str | None]]] = {"train": {}, "val": {}}
    kinds = list(DIRT)
    n = 0
    for label, wnid in enumerate(WNIDS):
        folder = root / "train" / wnid
        folder.mkdir(parents=True)
        for i in range(per_class):
            if i % 9 == 8:
                kind = kinds[(i // 9 + label) % len(kinds)]
                data, reason = dirty_bytes(kind, n), DIRT[kind]
            else:
                data, reason = fx.jpeg_bytes(fx.picture(48 + i % 5, 36, n)), None
            path = folder / f"{wnid}_{i}.JPEG"
            path.write_bytes(data)
            expected["train"][str(path)] = (label, reason)
            n += 1
    link = root / "train" / WNIDS[0] / "dangling.JPEG"
    os.symlink(root / "missing.JPEG", link)
    expected["train"][str(link)] = (0, "broken symlink")
    (root / "val").mkdir()
    rng = np.random.default_rng(0)
    labels = rng.integers(0, len(WNIDS), val)
    for k in range(1, val + 1):
        path = root / "val" / f"ILSVRC2012_val_{k:08d}.JPEG"
        bad = k % 50 == 0
        path.write_bytes(fx.jpeg_bytes(fx.picture(50, 40, 5000 + k))[: 150 if bad else None])
        expected["val"][str(path)] = (int(labels[k - 1]), "corrupt image" if bad else None)
    data_dir = root / "ILSVRC2012_devkit_t12" / "data"
    data_dir.mkdir(parents=True)
    (data_dir / "ILSVRC2012_validation_ground_truth.txt").write_text("".join(f"{10 - l}\n" for l in labels))
    write_meta_mat(data_dir / "meta.mat")
    return expected


def test_2000_image_dirty_tree_reports_every_bad_file_and_writes_every_good_one(tmp_path):
    expected = make_tree(tmp_path / "src")
    assert len(expected["train"]) + len(expected["val"]) >= 2000
    summary = prepare(tmp_path / "src", tmp_path / "out", size=32, workers=2, progress=False)
    for split, exp in expected.items():
        store = PreparedStore(tmp_path / "out", split)
        assert store.decode(0).shape == (32, 32, 3)
        written = dict(zip(store.sources(), store.labels.tolist()))
        assert len(written) == len(store)                                   # nothing twice
        assert written == {s: label for s, (label, reason) in exp.items() if reason is None}
        skipped = [json.loads(line) for line in (tmp_path / "out" / split / "skipped.jsonl").read_text().splitlines()]
        assert {r["source"]: r["reason"] for r in skipped} == {s: r for s, (_, r) in exp.items() if r is not None}
        s = summary["splits"][split]
        assert s["images"] + s["skipped"] == len(exp)                        # nothing lost silently
    assert json.loads((tmp_path / "out" / "classes.json").read_text())["names"][3] == "class 3"
