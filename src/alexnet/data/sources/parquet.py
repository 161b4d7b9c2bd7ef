"""Hugging Face parquet shards: ``image`` (struct {bytes, path}) and ``label`` (int; ClassLabel).

The layout of ``ILSVRC/imagenet-1k`` and of any ``datasets`` image data set saved as parquet:
``SRC/data/train-00000-of-01024.parquet``, ``SRC/data/validation-00000-of-00064.parquet``,
``SRC/data/test-…`` (or the shards directly in ``SRC``). The split comes from the file name
prefix: ``train`` → train, ``validation``/``valid``/``val`` → val; ``test`` shards (unlabelled)
are ignored with a note. When no file has such a prefix, all shards are one split (the requested
one, as for a single ImageFolder; the folder's name when it is ``train``/``val``/…).

Listing reads the parquet footers and the ``label`` column only, never the image bytes: each row
becomes an :class:`Item` of kind ``"parquet"`` with ``path`` = the shard, ``offset`` = the row
group and ``size`` = the row inside that group; ``source`` is ``"<shard>#<row in the file>"``.
:func:`alexnet.data.process.read_item` reads the ``image`` column of one row group at a time and
keeps it while the chunk's next rows come from the same group (chunks are contiguous in this
listing order: shard, row group, row), so each row group is read once per chunk.

Classes: the class index is the Hugging Face label. When the schema metadata (``huggingface``
key) has ``info.features.label.names`` (a ClassLabel), class *i* is ``names[i]`` (id and name;
a name that occurs more than once gets `` #<label>`` appended to its id so ids stay unique).
Otherwise the ids are the labels as zero-padded decimals (``"007"``) from 0 to the largest label
of the train and val shards, so that sorted order = numeric order and none is missing. Rows
with label -1 (or null) are reported as "unlabelled", labels outside the class list as
"unknown class"; rows whose image bytes are null are reported by the reader ("missing image").
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from . import Item, SplitSource

_SPLIT_OF = {"train": "train", "training": "train", "validation": "val", "valid": "val", "val": "val",
             "test": "test", "testing": "test"}
_PREFIX = re.compile(r"^(train|training|validation|valid|val|testing|test)(?=[-_.])", re.IGNORECASE)


def find_parquet(src: Path) -> list[Path]:
    """The parquet shards of ``src``: the file itself, or ``*.parquet`` directly in it or in
    ``src/data``, sorted by name (no pyarrow needed)."""
    src = Path(src)
    if src.is_file():
        return [src] if src.suffix == ".parquet" else []
    if not src.is_dir():
        return []
    files = sorted(src.glob("*.parquet"))
    if not files and (src / "data").is_dir():
        files = sorted((src / "data").glob("*.parquet"))
    return [f for f in files if f.is_file()]


def _split_of(path: Path) -> str | None:
    m = _PREFIX.match(path.name)
    return _SPLIT_OF[m.group(1).lower()] if m else None


def _require_pyarrow(files: list[Path]):
    try:
        import pyarrow.parquet as pq
    except ImportError as e:
        raise ImportError(f"{files[0].parent} holds parquet shards ({files[0].name}, …): reading them needs "
                          f"pyarrow: `pip install pyarrow` (or `pip install alexnet[parquet]`)") from e
    return pq


def _class_names(schema) -> list[str] | None:
    meta = schema.metadata or {}
    raw = meta.get(b"huggingface")
    if raw is None:
        return None
    try:
        label = json.loads(raw)["info"]["features"]["label"]
    except (ValueError, KeyError, TypeError):
        return None
    names = label.get("names") if isinstance(label, dict) else None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        return None
    return names


class NotImageParquet(ValueError):
    """A parquet file without the Hugging Face image columns (the wrong data set, not damage)."""


def _check_schema(schema, path: Path) -> None:
    import pyarrow as pa
    names = schema.names
    ok = "image" in names and "label" in names
    if ok:
        t = schema.field("image").type
        ok = ((pa.types.is_struct(t) and t.get_field_index("bytes") >= 0) or pa.types.is_binary(t)
              or pa.types.is_large_binary(t)) and pa.types.is_integer(schema.field("label").type)
    if not ok:
        raise NotImageParquet(f"{path}: not a Hugging Face image parquet shard: expected the columns `image` "
                         f"(struct with `bytes`) and an integer `label`, found {schema}")


def _read_shard(pq, path: Path):
    """(class names or None, [(row group, rows)], labels as Python ints/None) of one shard."""
    with pq.ParquetFile(path) as pf:
        schema = pf.schema_arrow
        _check_schema(schema, path)
        groups = [(g, pf.metadata.row_group(g).num_rows) for g in range(pf.metadata.num_row_groups)]
        labels = pf.read(columns=["label"]).column("label").to_pylist()
    return _class_names(schema), groups, labels


def parquet_sources(src: Path, wanted: tuple[str, ...]) -> dict[str, SplitSource]:
    """One SplitSource per wanted split ("train"/"val") found among the parquet shards of ``src``."""
    src = Path(src)
    files = find_parquet(src)
    shards = _Shards(_require_pyarrow(files))
    by_split, notes = _group_by_split(src, files, wanted)
    labelled = [s for s in ("train", "val") if s in by_split]
    ids, id_names = _class_ids(src, by_split, [s for s in labelled if s in wanted], labelled, shards)
    out = {}
    for s in labelled:
        if s in wanted:
            items, skipped = _split_items(by_split[s], shards, ids)
            out[s] = SplitSource(kind="hf-parquet", items=items, class_ids=list(ids), names=dict(id_names),
                                 skipped=skipped, notes=list(notes))
    return out


class _Shards:
    """Each shard read once (:func:`_read_shard`); a damaged one is remembered with its error."""

    def __init__(self, pq):
        self.pq, self.read, self.errors = pq, {}, {}

    def __call__(self, f: Path):
        if f not in self.read and f not in self.errors:
            try:
                self.read[f] = _read_shard(self.pq, f)
            except NotImageParquet:
                raise
            except (ValueError, OSError) as e:    # pyarrow's ArrowInvalid is a ValueError: a damaged file
                self.errors[f] = str(e)
        return self.read.get(f)


def _group_by_split(src: Path, files: list[Path], wanted: tuple[str, ...]) -> tuple[dict[str, list[Path]], list[str]]:
    """The shards of each split named in their file names (a folder of unnamed shards is one split),
    and notes on the shards left out."""
    by_split: dict[str, list[Path]] = {}
    notes, unsplit = [], []
    for f in files:
        s = _split_of(f)
        (unsplit.append(f) if s is None else by_split.setdefault(s, []).append(f))
    if unsplit:
        if not by_split:           # no split in the names: the folder is one split
            own = _SPLIT_OF.get(src.name.lower()) if src.is_dir() else _split_of(src)
            by_split[own or wanted[0]] = unsplit
        else:
            notes.append(f"ignored {len(unsplit)} parquet file(s) whose name names no split "
                         f"(train-/validation-/test-…): {', '.join(f.name for f in unsplit[:3])}"
                         f"{', …' if len(unsplit) > 3 else ''}")
    if "test" in by_split:
        notes.append(f"ignored {len(by_split['test'])} test shard(s) (unlabelled: label -1), e.g. "
                     f"{by_split['test'][0].name}")
    return by_split, notes


def _class_ids(src: Path, by_split: dict[str, list[Path]], wanted: list[str], labelled: list[str],
               shards: _Shards) -> tuple[list[str], dict[str, str]]:
    """Class ids (and their names): the shards' ClassLabel names (made unique), or, without names,
    0…max label over every labelled shard."""
    names = None
    for f in (f for s in wanted for f in by_split[s]):
        got = shards(f)
        if got is not None and got[0] is not None:
            if names is None:
                names = got[0]
            elif got[0] != names:
                raise ValueError(f"{f}: its ClassLabel names differ from those of the other shards "
                                 f"(shards of different data sets in {src}?)")
    if names is not None:
        counts: dict[str, int] = {}
        for n in names:
            counts[n] = counts.get(n, 0) + 1
        ids = [n if counts[n] == 1 else f"{n} #{i}" for i, n in enumerate(names)]
        return ids, dict(zip(ids, names))
    top = -1                               # the numeric labels of every labelled shard fix the list
    for f in (f for s in labelled for f in by_split[s]):
        got = shards(f)
        if got is not None:
            top = max([top] + [y for y in got[2] if y is not None])
    width = len(str(max(top, 0)))
    return [f"{i:0{width}d}" for i in range(top + 1)], {}


def _split_items(files: list[Path], shards: _Shards, ids: list[str]) -> tuple[list[Item], list[tuple[str, str, str]]]:
    """Every row of the split's shards as an Item, or skipped with its reason."""
    items: list[Item] = []
    skipped: list[tuple[str, str, str]] = []
    for f in files:
        got = shards(f)
        if got is None:
            skipped.append((str(f), "unreadable parquet", shards.errors.get(f, "")))
            continue
        _, groups, labels = got
        row = 0
        for g, n in groups:
            for i in range(n):
                y = labels[row]
                source = f"{f}#{row}"
                if y is None or y == -1:
                    skipped.append((source, "unlabelled", "label is null" if y is None else "label -1"))
                elif not 0 <= y < len(ids):
                    skipped.append((source, "unknown class" if y >= 0 else "bad label",
                                    f"label {y} is not among the {len(ids)} classes"))
                else:
                    items.append(Item(source=source, label=ids[y], kind="parquet", path=str(f), offset=g, size=i))
                row += 1
    return items, skipped
