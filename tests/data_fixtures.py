"""Small generated data sets for the data-pipeline tests: ILSVRC-like trees with dirty files."""

from __future__ import annotations

import gzip
import io
import os
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image

WNIDS = ["n01440764", "n01443537", "n01484850"]          # sorted order = class index
WORDS = {"n01440764": "tench, Tinca tinca", "n01443537": "goldfish, Carassius auratus",
         "n01484850": "great white shark, white shark"}
# the devkit's ILSVRC2012_IDs deliberately differ from the sorted index
DEVKIT_ID = {"n01484850": 1, "n01440764": 2, "n01443537": 3}


def picture(w: int, h: int, seed: int) -> Image.Image:
    """A structured RGB picture: gradients, a rectangle and a little noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    arr = np.stack([x * 255 // max(w - 1, 1), y * 255 // max(h - 1, 1),
                    np.full_like(x, (seed * 37) % 256)], -1).astype(np.int32)
    x0, y0 = rng.integers(0, max(w // 2, 1)), rng.integers(0, max(h // 2, 1))
    arr[y0:y0 + h // 3, x0:x0 + w // 3] = rng.integers(0, 256, 3)
    arr += rng.integers(-8, 9, arr.shape)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def jpeg_bytes(img: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=92, **kw)
    return buf.getvalue()


def png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def exif_rotated_bytes() -> bytes:
    """80×40 stored, left half red / right half blue, EXIF orientation 6 (display rotated 90° CW:
    red on top)."""
    arr = np.zeros((40, 80, 3), np.uint8)
    arr[:, :40] = (255, 0, 0)
    arr[:, 40:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6
    return jpeg_bytes(Image.fromarray(arr), exif=exif)


def class_files(seed: int, dirty: str | None) -> dict[str, tuple[bytes | None, str | None]]:
    """{file name: (bytes, expected skip reason or None)} for one class folder."""
    files = {f"good_{seed}_{i}.JPEG": (jpeg_bytes(picture(64 + 8 * i, 48, seed * 10 + i)), None)
             for i in range(3)}
    if dirty == "a":
        files["cmyk.JPEG"] = (jpeg_bytes(picture(50, 60, 91).convert("CMYK")), None)
        files["grey.JPEG"] = (jpeg_bytes(picture(60, 50, 92).convert("L")), None)
        files["png_named.JPEG"] = (png_bytes(picture(56, 44, 93)), None)
        files["rotated.JPEG"] = (exif_rotated_bytes(), None)
        files["tiny_1x1.JPEG"] = (jpeg_bytes(picture(1, 1, 94)), None)
        files["thin_10x300.JPEG"] = (jpeg_bytes(picture(10, 300, 95)), None)
    elif dirty == "b":
        full = jpeg_bytes(picture(70, 50, 96))
        files["truncated.JPEG"] = (full[: len(full) // 2], "corrupt image")
        files["empty.JPEG"] = (b"", "empty file")
        files["notes.txt"] = (b"this is not an image\n", "not an image")
    return files


def write_folder(folder: Path, files: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, (data, _) in files.items():
        (folder / name).write_bytes(data)


def train_tree(root: Path) -> dict[str, tuple[str, str | None]]:
    """root/train/<wnid>/… with dirty files; returns {path: (wnid, expected reason or None)}."""
    expected = {}
    for k, wnid in enumerate(WNIDS):
        files = class_files(k, "a" if k == 0 else "b" if k == 1 else None)
        write_folder(root / "train" / wnid, files)
        for name, (_, reason) in files.items():
            expected[str(root / "train" / wnid / name)] = (wnid, reason)
    broken = root / "train" / WNIDS[1] / "broken_link.JPEG"
    os.symlink(root / "does-not-exist.JPEG", broken)
    expected[str(broken)] = (WNIDS[1], "broken symlink")
    if os.geteuid() != 0:                   # root can read anything: no permission case then
        locked = root / "train" / WNIDS[2] / "locked.JPEG"
        locked.write_bytes(jpeg_bytes(picture(40, 40, 97)))
        locked.chmod(0)
        expected[str(locked)] = (WNIDS[2], "permission denied")
    return expected


VAL_LABELS = ["n01484850", "n01440764", "n01443537", "n01440764", "n01484850", "n01443537"]


def val_files() -> dict[str, tuple[bytes, str, str | None]]:
    """{name: (bytes, wnid, expected reason)} of a flat ILSVRC val folder."""
    out = {}
    for k, wnid in enumerate(VAL_LABELS, start=1):
        out[f"ILSVRC2012_val_{k:08d}.JPEG"] = (jpeg_bytes(picture(60, 45, 200 + k)), wnid, None)
    full = jpeg_bytes(picture(60, 45, 300))
    out[f"ILSVRC2012_val_{len(VAL_LABELS) + 1:08d}.JPEG"] = (full[: len(full) // 2], "n01440764", "corrupt image")
    return out


def ground_truth_lines() -> str:
    labels = VAL_LABELS + ["n01440764"]
    return "".join(f"{DEVKIT_ID[w]}\n" for w in labels)


def write_meta_mat(path: Path) -> None:
    """A devkit meta.mat in the real structure: a struct array ``synsets`` with the leaf classes
    (num_children 0) and one inner node."""
    from scipy.io import savemat
    dtype = [("ILSVRC2012_ID", "O"), ("WNID", "O"), ("words", "O"), ("gloss", "O"),
             ("num_children", "O"), ("children", "O"), ("wordnet_height", "O"), ("num_train_images", "O")]
    rows = [(DEVKIT_ID[w], w, WORDS[w], "a fish", 0, np.zeros((1, 0)), 0, 3) for w in WNIDS]
    rows.append((4, "n01473806", "aquatic vertebrate", "an inner node", 3,
                 np.array([[1, 2, 3]], dtype=float), 1, 0))
    arr = np.array(rows, dtype=dtype).reshape(-1, 1)
    savemat(str(path), {"synsets": arr})


def val_flat_devkit(root: Path) -> dict[str, tuple[str, str | None]]:
    expected = {}
    for name, (data, wnid, reason) in val_files().items():
        (root / "val").mkdir(parents=True, exist_ok=True)
        (root / "val" / name).write_bytes(data)
        expected[str(root / "val" / name)] = (wnid, reason)
    data_dir = root / "ILSVRC2012_devkit_t12" / "data"
    data_dir.mkdir(parents=True)
    (data_dir / "ILSVRC2012_validation_ground_truth.txt").write_text(ground_truth_lines())
    write_meta_mat(data_dir / "meta.mat")
    return expected


def ilsvrc_tree(root: Path) -> dict[str, dict[str, tuple[str, str | None]]]:
    """ILSVRC layout with folders and the devkit: {split: {source: (wnid, reason)}}."""
    return {"train": train_tree(root), "val": val_flat_devkit(root)}


def kaggle_tree(root: Path) -> dict[str, dict[str, tuple[str, str | None]]]:
    data = root / "ILSVRC" / "Data" / "CLS-LOC"
    expected = {"train": {}, "val": {}}
    for k, wnid in enumerate(WNIDS):
        files = class_files(k + 5, None)
        write_folder(data / "train" / wnid, files)
        expected["train"].update({str(data / "train" / wnid / n): (wnid, None) for n in files})
    rows = ["ImageId,PredictionString"]
    for name, (b, wnid, reason) in val_files().items():
        (data / "val").mkdir(parents=True, exist_ok=True)
        (data / "val" / name).write_bytes(b)
        expected["val"][str(data / "val" / name)] = (wnid, reason)
        rows.append(f"{Path(name).stem},{wnid} 1 2 30 40 {wnid} 5 6 20 20")
    (root / "LOC_val_solution.csv").write_text("\n".join(rows) + "\n")
    (root / "LOC_synset_mapping.txt").write_text("".join(f"{w} {WORDS[w]}\n" for w in WNIDS))
    return expected


def _add(tf: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tf.addfile(info, io.BytesIO(data))


def tar_tree(root: Path) -> dict[str, dict[str, tuple[str, str | None]]]:
    """The original archives: a train tar of per-class tars (one holding unsafe member names),
    a flat val tar and the devkit as .tar.gz."""
    root.mkdir(parents=True, exist_ok=True)
    train_tar = root / "ILSVRC2012_img_train.tar"
    expected = {"train": {}, "val": {}}
    with tarfile.open(train_tar, "w") as outer:
        for k, wnid in enumerate(WNIDS):
            buf = io.BytesIO()
            with tarfile.open(fileobj=buf, mode="w") as inner:
                files = class_files(k + 20, "b" if k == 1 else None)
                for name, (data, reason) in files.items():
                    _add(inner, name, data)
                    expected["train"][f"{train_tar}:{wnid}.tar:{name}"] = (wnid, reason)
                if k == 0:
                    _add(inner, "../escape.JPEG", jpeg_bytes(picture(40, 40, 1)))
                    _add(inner, "/abs/path.JPEG", jpeg_bytes(picture(40, 40, 2)))
                    expected["train"][f"{train_tar}:{wnid}.tar:../escape.JPEG"] = (wnid, "unsafe path in archive")
                    expected["train"][f"{train_tar}:{wnid}.tar:/abs/path.JPEG"] = (wnid, "unsafe path in archive")
            _add(outer, f"{wnid}.tar", buf.getvalue())
    val_tar = root / "ILSVRC2012_img_val.tar"
    with tarfile.open(val_tar, "w") as tf:
        for name, (data, wnid, reason) in val_files().items():
            _add(tf, name, data)
            expected["val"][f"{val_tar}:{name}"] = (wnid, reason)
    tmp = root / "devkit-build"
    (tmp / "data").mkdir(parents=True)
    (tmp / "data" / "ILSVRC2012_validation_ground_truth.txt").write_text(ground_truth_lines())
    write_meta_mat(tmp / "data" / "meta.mat")
    with tarfile.open(root / "ILSVRC2012_devkit_t12.tar.gz", "w:gz") as tf:
        tf.add(tmp / "data", arcname="ILSVRC2012_devkit_t12/data")
    for p in sorted(tmp.rglob("*"), reverse=True):
        p.unlink() if p.is_file() else p.rmdir()
    tmp.rmdir()
    return expected


def write_idx(path: Path, arr: np.ndarray, gz: bool) -> None:
    codes = {np.dtype(np.uint8): 0x08}
    header = bytes([0, 0, codes[arr.dtype], arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    data = header + arr.tobytes()
    if gz:
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)


def fashion_mnist_dir(root: Path, n_train: int = 30, n_val: int = 12, gz: bool = True):
    """Tiny Fashion-MNIST idx files → (folder, {split: (images, labels)})."""
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    data = {}
    suffix = ".gz" if gz else ""
    for split, prefix, n in (("train", "train", n_train), ("val", "t10k", n_val)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        rng.shuffle(labels)
        write_idx(root / f"{prefix}-images-idx3-ubyte{suffix}", images, gz)
        write_idx(root / f"{prefix}-labels-idx1-ubyte{suffix}", labels, gz)
        data[split] = (images, labels)
    return root, data


def small_store(root: Path):
    """A prepared 64×64 store of 21 JPEGs in 3 classes (7 each), in shards of 5 — for loader tests."""
    from alexnet.data.prepare import prepare
    from alexnet.data.store import PreparedStore
    for k in range(3):
        write_folder(root / "src" / f"class{k}",
                     {f"{i}.JPEG": (jpeg_bytes(picture(50, 40, 10 * k + i)), None) for i in range(7)})
    prepare(root / "src", root / "out", workers=1, chunk_size=5, progress=False, size=64)
    return PreparedStore(root / "out", "train")
