"""``alexnet prepare``: image data as people have it → a prepared store (see :mod:`.format`).

Usage::

    from alexnet.data.prepare import prepare
    summary = prepare("/data/ILSVRC2012", "/data/imagenet-256", split="all", workers=16)

Each split's input files are cut into chunks of ``chunk_size`` in listing order; a pool of
processes turns each chunk into one shard (``shard-NNNNN.bin`` + ``.npz``). A shard that exists
is not redone, so an interrupted run resumes where it stopped, and a run on a finished store
only says so. The train split's mean image and RGB covariance are summed exactly (integers)
per chunk and combined at the end.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

from .. import stop
from ..atomic import atomic_path, atomic_write_text
from ..jsonl import JsonlWriter
from ..lock import exclusive
from ..progress import Progress
from .format import (STORE_FORMAT, array_to_json, json_to_array, read_json, shard_bin, shard_index)
from .lighting import pca_from_sums
from .process import JPEG_QUALITY, Skip, outer_sum, process_jpeg, process_raw, read_item, release_readers
from .sources import Item, SplitSource, discover
from .sources.ilsvrc import ilsvrc2012_names

CHUNK_SIZE = 1000


# -- one chunk, in a worker -----------------------------------------------------------------------
def _worker_pool(workers: int):
    """Worker processes that start clean: forked from a fresh forkserver process (which imported this
    module once), not from this one. A fork of a process with threads copies their locks as they are,
    and a child can wait on one forever: seen once in the test suite with pyarrow's jemalloc thread
    running in the parent. ``spawn`` where there is no forkserver (macOS, Windows)."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload([__name__])
    else:
        ctx = multiprocessing.get_context("spawn")
    return ctx.Pool(workers)


def _process_chunk(task: dict) -> dict:
    split_dir, chunk, items = Path(task["split_dir"]), task["chunk"], task["items"]
    size, channels, encoding, quality = task["size"], task["channels"], task["encoding"], task["quality"]
    offsets, lengths, labels, sources, skipped, notes = [], [], [], [], [], Counter()
    # uint32 holds exactly the per-pixel sum of up to 16.8M images, far more than a chunk
    sum_image = np.zeros((size, size, channels), np.uint32)
    sum_rgb = np.zeros(channels, np.int64)
    sum_outer = np.zeros((channels, channels), np.int64)
    pos = 0
    with atomic_path(shard_bin(split_dir, chunk)) as tmp, open(tmp, "wb") as f:
        for item, label in items:
            try:
                data = read_item(item)
                if encoding == "raw":
                    encoded, pixels, note = process_raw(data, size, channels)
                else:
                    encoded, pixels, note = process_jpeg(data, size, quality)
            except Skip as e:
                skipped.append({"source": item.source, "reason": e.reason, "detail": e.detail})
                continue
            f.write(encoded)
            offsets.append(pos)
            lengths.append(len(encoded))
            labels.append(label)
            sources.append(item.source)
            notes[note] += 1
            pos += len(encoded)
            np.add(sum_image, pixels, out=sum_image, casting="unsafe")
            sum_outer += outer_sum(pixels.reshape(-1, channels))
    release_readers()                  # a parquet row group is kept only within a chunk
    sum_rgb += sum_image.sum(axis=(0, 1), dtype=np.int64)    # = Σ over images of their pixel sums
    with atomic_path(shard_index(split_dir, chunk)) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, offsets=np.asarray(offsets, np.int64), lengths=np.asarray(lengths, np.int64),
                     labels=np.asarray(labels, np.int64), sum_image=sum_image.astype(np.int64), sum_rgb=sum_rgb,
                     sum_outer=sum_outer, n_images=np.int64(len(offsets)),
                     info=json_to_array({"sources": sources, "skipped": skipped, "notes": dict(notes)}))
    return {"chunk": chunk, "written": len(offsets), "skipped": len(skipped), "inputs": len(items)}


# -- planning ---------------------------------------------------------------------------------------
def _class_list(out: Path, found: dict[str, SplitSource]) -> tuple[list[str], dict[str, str]]:
    names: dict[str, str] = {}
    for s in found.values():
        names.update(s.names)
    existing = out / "classes.json"
    if existing.is_file():
        wnids = read_json(existing)["wnids"]
        for split, s in found.items():
            extra = sorted(set(s.class_ids) - set(wnids))
            if extra:
                raise ValueError(f"{out} was prepared with {len(wnids)} classes that do not include the "
                                 f"{split} classes {extra[:5]}{'…' if len(extra) > 5 else ''}; prepare this "
                                 f"source into a new OUT folder")
        return list(wnids), names
    if "train" in found:
        return list(found["train"].class_ids), names
    return list(next(iter(found.values())).class_ids), names


def _plan_id(source: SplitSource, size: int, quality: int, chunk_size: int) -> str:
    h = hashlib.sha1(f"{STORE_FORMAT}|{size}|{quality}|{chunk_size}|{source.encoding}".encode())
    for it in source.items:
        h.update(f"{it.source}\t{it.label}\t{it.size}\n".encode())
    return h.hexdigest()


def _leave_out(found: dict[str, SplitSource], src: Path, out: Path) -> dict[str, SplitSource]:
    """Drop the store's own files when OUT lies inside SRC (``prepare photos photos/store``): a rerun
    would otherwise read them as images of a class named after OUT's folder."""
    o = out.resolve()
    if not (src.is_dir() and o.is_relative_to(src.resolve())):
        return found
    for source in found.values():
        keep = [it for it in source.items if not (it.path and Path(it.path).resolve().is_relative_to(o))]
        if len(keep) == len(source.items):
            continue
        labels = {it.label for it in keep}
        source.items = keep
        source.class_ids = [c for c in source.class_ids
                            if c in labels or not o.is_relative_to((src / c).resolve())]
    return found


def _clean_tmp(split_dir: Path) -> None:
    for p in split_dir.glob(".tmp-*"):  # left by a killed run; the real files are intact
        p.unlink(missing_ok=True)


# -- finishing a split ----------------------------------------------------------------------------
def _finish_split(split_dir: Path, n_chunks: int, pre_skipped: list[dict], meta: dict,
                  num_classes: int, stats_dir: Path | None) -> dict:
    shard, offset, length, label, sources, skipped, notes = [], [], [], [], [], list(pre_skipped), Counter()
    size, channels = meta["image_size"], meta["channels"]
    sum_image = np.zeros((size, size, channels), np.int64)
    sum_rgb = np.zeros(channels, np.int64)
    sum_outer = np.zeros((channels, channels), np.int64)
    for c in range(n_chunks):
        with np.load(shard_index(split_dir, c), allow_pickle=False) as z:
            n = len(z["offsets"])
            shard.append(np.full(n, c, np.int32))
            offset.append(z["offsets"])
            length.append(z["lengths"])
            label.append(z["labels"])
            sum_image += z["sum_image"]
            sum_rgb += z["sum_rgb"]
            sum_outer += z["sum_outer"]
            info = array_to_json(z["info"])
        sources += info["sources"]
        skipped += info["skipped"]
        notes.update(info["notes"])
    labels = np.concatenate(label) if label else np.zeros(0, np.int64)
    n_images = len(labels)
    if n_images == 0:
        raise ValueError(f"no image of {split_dir.name} could be prepared ({len(skipped)} files skipped; "
                         f"see {split_dir / 'skipped.jsonl'})")
    with atomic_path(split_dir / "skipped.jsonl") as tmp:
        tmp.write_text("".join(json.dumps(s) + "\n" for s in skipped), encoding="utf-8")
    with atomic_path(split_dir / "sources.txt") as tmp:
        tmp.write_text("".join(s.replace("\n", " ") + "\n" for s in sources), encoding="utf-8")
    with atomic_path(split_dir / "index.npz") as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, shard=np.concatenate(shard), offset=np.concatenate(offset),
                     length=np.concatenate(length), label=labels)
    per_class = np.bincount(labels, minlength=num_classes)
    summary = {
        "images": int(n_images), "classes": int((per_class > 0).sum()), "num_classes": num_classes,
        "images_per_class": {"min": int(per_class.min()), "max": int(per_class.max())},
        "skipped": len(skipped), "skipped_by_reason": dict(Counter(s["reason"] for s in skipped)),
        "skipped_files": skipped, "skipped_report": str(split_dir / "skipped.jsonl"),
        "inputs_by_format": dict(notes), "bytes": int(np.concatenate(length).sum()),
        "image_size": size, "channels": channels, "encoding": meta["encoding"], "shards": n_chunks,
    }
    if stats_dir is not None:
        summary["stats"] = _write_stats(stats_dir, sum_image, sum_rgb, sum_outer, n_images)
    atomic_write_text(split_dir / "meta.json", json.dumps({**meta, "images": int(n_images)}, indent=1))
    return summary


def _write_stats(stats_dir: Path, sum_image, sum_rgb, sum_outer, n_images: int) -> dict:
    """Mean image and RGB covariance/PCA from the exact integer sums. See DatasetStats."""
    size, _, channels = sum_image.shape
    n_pixels = n_images * size * size
    mean_image = (sum_image / n_images).astype(np.float32)
    pca_ = pca_from_sums(sum_rgb, sum_outer, n_pixels)
    stats_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(stats_dir / "mean_image.npy") as tmp:
        with open(tmp, "wb") as f:
            np.save(f, mean_image)
    pca = {
        "pixel_scale": 255.0, "images": int(n_images), "pixels": int(n_pixels),
        **{k: v.tolist() for k, v in pca_.items()},
        "note": "eigval: eigenvalues of the covariance of pixel values in [0,1] (the paper's lambda, "
                "same scale as SPEC's ImageNet values); "
                "eigvec: column i is the eigenvector of eigval[i]; mean_image.npy: float32 (H,W,C) in "
                "[0,255], computed from the stored (JPEG-decoded) pixels of the train split",
    }
    atomic_write_text(stats_dir / "pca.json", json.dumps(pca, indent=1))
    return {"mean_image": str(stats_dir / "mean_image.npy"), "pca": str(stats_dir / "pca.json"),
            "eigval": pca["eigval"], "mean_rgb_255": pca["mean_rgb_255"]}


# -- the command ----------------------------------------------------------------------------------
def prepare(src, out, *, split: str = "all", size: int = 256, workers: int | None = None,
            strict: bool = False, progress: bool = True, chunk_size: int = CHUNK_SIZE,
            quality: int = JPEG_QUALITY) -> dict:
    """Prepare ``src`` into the store ``out``; returns the summary (also in ``out/summary.json``).

    ``split``: "train", "val" or "all". ``size``: side of the stored square (Fashion-MNIST keeps
    its 28). ``workers``: processes (default: all cores). ``strict`` only marks the summary
    (``"ok": false`` when files were skipped); the CLI turns it into the exit status. Raises
    ValueError when a split ends up empty, FileNotFoundError when ``src`` has nothing to prepare.
    """
    if split not in ("train", "val", "all"):
        raise ValueError(f"split must be train, val or all, not {split!r}")
    src, out = Path(src), Path(out)
    found = _leave_out(discover(src, split), src, out)
    if not found:
        raise FileNotFoundError(f"nothing to prepare for split {split!r} in {src} (expected an ImageFolder "
                                f"tree, an ILSVRC-2012 root, Fashion-MNIST idx files, or Hugging Face parquet shards)")
    with exclusive(out, "alexnet prepare", "Wait for it (a rerun afterwards resumes and finds the work done) or "
                                          "choose another OUT."):
        return _prepare_locked(src, out, found, workers, size, quality, chunk_size, progress, strict)


def _prepare_locked(src: Path, out: Path, found: dict, workers, size: int, quality: int, chunk_size: int,
                    progress: bool, strict: bool) -> dict:
    log = JsonlWriter(out / "prepare.log.jsonl")
    wnids, names = _class_list(out, found)
    for wnid, name in (ilsvrc2012_names(wnids) or {}).items():  # a source's own names come first
        names.setdefault(wnid, name)
    index_of = {w: i for i, w in enumerate(wnids)}
    classes = {"format": STORE_FORMAT, "wnids": wnids, "names": [names.get(w, w) for w in wnids]}
    if not (out / "classes.json").is_file():
        atomic_write_text(out / "classes.json", json.dumps(classes, indent=1))
    workers = max(1, workers or os.cpu_count() or 1)
    summary_path = out / "summary.json"
    summary = read_json(summary_path) if summary_path.is_file() else {}
    summary.update({"format": STORE_FORMAT, "source": str(src), "classes_file": str(out / "classes.json")})
    summary.setdefault("splits", {})
    with log:
        for name, source in found.items():
            summary["splits"][name] = _prepare_split(name, source, out, index_of, size, quality, chunk_size,
                                                     workers, progress, log)
            atomic_write_text(summary_path, json.dumps(summary, indent=1))
    summary["ok"] = not (strict and any(s["skipped"] for s in summary["splits"].values()))
    atomic_write_text(summary_path, json.dumps(summary, indent=1))
    return summary


def _prepare_split(name: str, source: SplitSource, out: Path, index_of: dict[str, int], size: int,
                   quality: int, chunk_size: int, workers: int, progress: bool, log: JsonlWriter) -> dict:
    split_dir = out / name
    split_dir.mkdir(parents=True, exist_ok=True)
    _clean_tmp(split_dir)
    for note in source.notes:
        print(f"prepare {name}: note: {note}", file=sys.stderr)
    image_size = size if source.image_size is not None else _native_size(source)
    plan = {"format": STORE_FORMAT, "split": name, "plan_id": _plan_id(source, image_size, quality, chunk_size),
            "source_kind": source.kind, "image_size": image_size, "channels": source.channels,
            "encoding": source.encoding, "jpeg_quality": quality if source.encoding == "jpeg" else None,
            "chunk_size": chunk_size}
    plan_path = split_dir / "plan.json"
    if plan_path.is_file():
        old = read_json(plan_path)
        if old.get("plan_id") != plan["plan_id"]:
            raise ValueError(f"{split_dir} was prepared from different input or settings ({old.get('source_kind')}, "
                             f"size {old.get('image_size')}, quality {old.get('jpeg_quality')}); use a new OUT "
                             f"folder or delete {split_dir}")
    else:
        atomic_write_text(plan_path, json.dumps(plan, indent=1))
    summary_path = out / "summary.json"
    if (split_dir / "meta.json").is_file():
        prior = read_json(summary_path)["splits"].get(name) if summary_path.is_file() else None
        if prior is not None:
            print(f"{split_dir} is complete ({prior['images']} images): nothing to do", file=sys.stderr)
            log.write("complete", split=name)
            return {**prior, "already_complete": True}
    pre_skipped = [{"source": s, "reason": r, "detail": d} for s, r, d in source.skipped]
    labelled: list[tuple[Item, int]] = []
    for it in source.items:
        if it.label in index_of:
            labelled.append((it, index_of[it.label]))
        else:
            pre_skipped.append({"source": it.source, "reason": "unknown class",
                                "detail": f"{it.label!r} is not among the {len(index_of)} classes"})
    chunks = [labelled[i:i + chunk_size] for i in range(0, len(labelled), chunk_size)]
    todo = [c for c in range(len(chunks)) if not shard_index(split_dir, c).is_file()]
    done_inputs = sum(len(chunks[c]) for c in range(len(chunks)) if c not in set(todo))
    log.write("start", split=name, inputs=len(source.items), chunks=len(chunks), todo=len(todo), workers=workers)
    t0 = time.time()
    tasks = ({"split_dir": str(split_dir), "chunk": c, "items": chunks[c], "size": image_size,
              "channels": source.channels, "encoding": source.encoding, "quality": quality} for c in todo)
    # progress=False: silent (a library call); True: a bar on a terminal, a line every 10 s elsewhere
    bar = Progress(len(labelled), f"prepare {name}", unit="img", initial=done_inputs,
                   show=None if progress else False)
    with stop.deferred():   # a signal stops between chunks, never inside the pool's machinery
        pool = _worker_pool(workers) if workers > 1 and len(todo) > 1 else None
    try:
        results = pool.imap_unordered(_process_chunk, tasks) if pool else map(_process_chunk, tasks)
        for r in stop.deferred_iter(results, f"prepare {name} (finished shards are kept; run it again to go on)"):
            bar.update(r["inputs"])
            log.write("chunk", split=name, **r)
    finally:
        bar.close()
        if pool is not None:
            pool.terminate()
            pool.join()
    seconds = time.time() - t0
    meta = {"format": STORE_FORMAT, "split": name, "image_size": image_size, "channels": source.channels,
            "encoding": source.encoding, "source_kind": source.kind, "plan_id": plan["plan_id"]}
    stats_dir = out / "stats" if name == "train" else None
    result = _finish_split(split_dir, len(chunks), pre_skipped, meta, len(index_of), stats_dir)
    processed = bar.done - done_inputs
    result.update({"seconds": round(seconds, 3), "processed_inputs": processed, "reused_inputs": done_inputs,
                   "images_per_second": round(processed / seconds, 1) if seconds > 0 else None,
                   "workers": workers, "pixel_format": _pixel_format(source)})
    if source.notes:
        result["notes"] = list(source.notes)
    log.write("finish", split=name, images=result["images"], skipped=result["skipped"], seconds=result["seconds"])
    return result


def _native_size(source: SplitSource) -> int:
    first = next((it for it in source.items if it.data is not None), None)
    if first is None:
        raise ValueError(f"{source.kind} source has no images")
    side = int(round((len(first.data) / source.channels) ** 0.5))
    return side


def _pixel_format(source: SplitSource) -> str:
    if source.encoding == "raw":
        return f"raw uint8 records (lossless), {source.channels} channel(s)"
    return "JPEG, RGB"
