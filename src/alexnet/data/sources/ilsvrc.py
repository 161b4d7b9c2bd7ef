"""ILSVRC-2012 as distributed: the devkit, Kaggle's CSV, flat val folders and the original tars.

Labels of the flat val set come from the devkit (``ILSVRC2012_validation_ground_truth.txt``:
line k holds the 1-based ILSVRC2012_ID of ``ILSVRC2012_val_%08d.JPEG`` % k; ``meta.mat`` maps
ID → wnid) or from Kaggle's ``LOC_val_solution.csv`` (label = first token of PredictionString).
The class index is always the wnid's position in the sorted wnid list, never the ID.

Tars are read in place: their member headers are listed with :mod:`tarfile` and each image is
later read by offset (``os.pread``) from the archive; nothing is extracted to disk. Members with
absolute paths or ``..`` are reported and never read.
"""

from __future__ import annotations

import csv
import io
import os
import re
import tarfile
from pathlib import Path, PurePosixPath

from . import Item, SplitSource

GROUND_TRUTH = "ILSVRC2012_validation_ground_truth.txt"
META_MAT = "meta.mat"
KAGGLE_CSV = "LOC_val_solution.csv"
KAGGLE_MAPPING = "LOC_synset_mapping.txt"
VAL_NAME = re.compile(r"ILSVRC2012_val_(\d{8})")


# -- devkit --------------------------------------------------------------------------------------
def read_meta_mat(data: bytes | str | os.PathLike) -> dict[int, tuple[str, str]]:
    """meta.mat → {ILSVRC2012_ID: (wnid, words)} for the leaf synsets (the 1000 classes)."""
    try:
        from scipy.io import loadmat
    except ImportError as e:
        raise ImportError("reading the ILSVRC devkit's meta.mat needs scipy: `pip install scipy` "
                          "(or sort val into <wnid>/ folders, or use Kaggle's LOC_val_solution.csv)") from e
    f = io.BytesIO(data) if isinstance(data, bytes) else data
    synsets = loadmat(f, squeeze_me=True)["synsets"]
    out = {}
    for s in synsets.ravel():
        if int(s["num_children"]) == 0:
            out[int(s["ILSVRC2012_ID"])] = (str(s["WNID"]), str(s["words"]))
    return out


def find_devkit(root: Path) -> tuple[bytes, bytes, str] | None:
    """Look for the devkit's ground truth and meta.mat near ``root`` (a folder such as
    ``ILSVRC2012_devkit_t12/data`` or the ``ILSVRC2012_devkit_t12.tar.gz`` archive).
    Returns (ground truth bytes, meta.mat bytes, where) or None."""
    root = Path(root)
    dirs = [root, root / "data"] + [d for p in sorted(root.glob("*devkit*")) if p.is_dir()
                                    for d in (p, p / "data")]
    for d in dirs:
        gt, meta = d / GROUND_TRUTH, d / META_MAT
        if gt.is_file() and meta.is_file():
            return gt.read_bytes(), meta.read_bytes(), str(d)
    for arc in sorted(root.glob("*devkit*.tar*")):
        found = {}
        with tarfile.open(arc, "r:*") as tf:
            for m in tf:
                base = PurePosixPath(m.name).name
                if m.isfile() and base in (GROUND_TRUTH, META_MAT):
                    found[base] = tf.extractfile(m).read()
        if len(found) == 2:
            return found[GROUND_TRUTH], found[META_MAT], str(arc)
    return None


def devkit_labels(gt: bytes, meta: bytes) -> tuple[dict[int, str], dict[str, str]]:
    """→ ({val image number: wnid}, {wnid: words})."""
    id_to = read_meta_mat(meta)
    labels = {}
    for k, line in enumerate(gt.decode().split(), start=1):
        ilsvrc_id = int(line)
        if ilsvrc_id not in id_to:
            raise ValueError(f"{GROUND_TRUTH} line {k}: ILSVRC2012_ID {ilsvrc_id} is not a leaf synset "
                             f"of meta.mat; are the two files from the same devkit?")
        labels[k] = id_to[ilsvrc_id][0]
    return labels, {w: words for w, words in id_to.values()}


# -- Kaggle --------------------------------------------------------------------------------------
def read_synset_mapping(path: Path) -> dict[str, str]:
    """LOC_synset_mapping.txt ("n01440764 tench, Tinca tinca" per line) → {wnid: words}."""
    out = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.strip():
            wnid, _, words = line.strip().partition(" ")
            out[wnid] = words.strip()
    return out


def kaggle_labels(csv_path: Path) -> dict[int, str]:
    """LOC_val_solution.csv → {val image number: wnid} (first token of PredictionString)."""
    labels = {}
    with open(csv_path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or not {"ImageId", "PredictionString"} <= set(reader.fieldnames):
            raise ValueError(f"{csv_path}: expected the columns ImageId,PredictionString, "
                             f"found {reader.fieldnames}")
        for row in reader:
            m = VAL_NAME.search(row["ImageId"])
            tokens = row["PredictionString"].split()
            if m and tokens:
                labels[int(m.group(1))] = tokens[0]
    return labels


# -- flat val folders and val/train tars ---------------------------------------------------------
def label_flat(entries: list[tuple[str, Item]], labels: dict[int, str], origin: str) -> SplitSource:
    """Give each (file name, unlabelled item) of a flat val set its wnid from ``labels``."""
    items, skipped = [], []
    for name, item in entries:
        m = VAL_NAME.search(name)
        wnid = labels.get(int(m.group(1))) if m else None
        if wnid is None:
            skipped.append((item.source, "no label", f"not an ILSVRC2012_val_* file listed in {origin}"))
        else:
            items.append(item._replace(label=wnid))
    return SplitSource(kind="ilsvrc-val", items=items, class_ids=sorted(set(labels.values())),
                       skipped=skipped)


def list_flat_dir(root: Path) -> list[tuple[str, Item]]:
    with os.scandir(root) as it:
        names = sorted(e.name for e in it if not e.is_dir())
    return [(n, Item(source=str(root / n), label="", kind="file", path=str(root / n))) for n in names]


def _unsafe(name: str) -> bool:
    p = PurePosixPath(name)
    return p.is_absolute() or ".." in p.parts


def _check_uncompressed(path: Path) -> None:
    with open(path, "rb") as f:
        head = f.read(6)
    if head[:2] == b"\x1f\x8b" or head[:3] == b"BZh" or head[:6] == b"\xfd7zXZ\x00":
        raise ValueError(f"{path} is a compressed tar; images are read from archives by offset, which "
                         f"needs an uncompressed tar: decompress it (e.g. `gunzip -k`), nothing else "
                         f"needs unpacking")


def list_tar(path: Path) -> tuple[list[tuple[str, Item]], list[tuple[str, str, str]]]:
    """Members of an uncompressed tar, nested per-class tars included, without extracting.

    Returns ([(member name, item with label = class id or "")], skipped). An item's label is the
    inner tar's stem (``n01440764.tar`` → ``n01440764``) or the member's folder (``<class>/x``)."""
    path = Path(path)
    _check_uncompressed(path)
    entries, skipped = [], []

    def visit(tf: tarfile.TarFile, base: int, prefix: str, label: str | None) -> None:
        for m in tf:
            source = f"{prefix}{m.name}"
            if _unsafe(m.name):
                skipped.append((source, "unsafe path in archive", "absolute or '..' member name; not read"))
                continue
            if m.isdir():
                continue
            if not m.isfile() or m.issparse():
                skipped.append((source, "not a regular file in archive", f"tar member type {m.type!r}"))
                continue
            if label is None and m.name.endswith(".tar"):
                inner = tarfile.open(fileobj=tf.extractfile(m), mode="r:")
                visit(inner, base + m.offset_data, f"{source}:", PurePosixPath(m.name).stem)
                continue
            parts = PurePosixPath(m.name).parts
            lab = label if label is not None else (parts[-2] if len(parts) >= 2 else "")
            entries.append((PurePosixPath(m.name).name,
                            Item(source=source, label=lab, kind="range", path=str(path),
                                 offset=base + m.offset_data, size=m.size)))

    with tarfile.open(path, mode="r:") as tf:
        visit(tf, 0, f"{path}:", None)
    return entries, skipped


def tar_source(path: Path, kind: str) -> SplitSource | tuple[list, list]:
    """A tar whose items all carry a class (per-class tars or folders) → SplitSource; a flat
    tar → (entries, skipped) still to be labelled by :func:`label_flat`."""
    entries, skipped = list_tar(path)
    if entries and all(it.label for _, it in entries):
        items = [it for _, it in entries]
        return SplitSource(kind=kind, items=items, class_ids=sorted({it.label for it in items}),
                           skipped=skipped)
    return entries, skipped


# The first and last wnid of ILSVRC-2012's 1000 classes in sorted order (tench, toilet tissue).
ILSVRC2012_FIRST_LAST = ("n01440764", "n15075141")


def ilsvrc2012_names(wnids: list[str]) -> dict[str, str] | None:
    """ImageNet's human class names for ILSVRC-2012's 1000 wnids (sorted), offline.

    torchvision ships the 1000 category names in class-index order (= sorted wnid order); they
    apply when ``wnids`` look like that class list: 1000 WordNet ids from tench (n01440764) to
    toilet tissue (n15075141). Otherwise ``None``.
    """
    if (len(wnids) != 1000 or (wnids[0], wnids[-1]) != ILSVRC2012_FIRST_LAST
            or not all(re.fullmatch(r"n\d{8}", w) for w in wnids)):
        return None
    from ...constants import imagenet_class_names
    names = imagenet_class_names()
    return None if names is None else dict(zip(wnids, names))

