"""Faults and odd input in the data pipeline (docs/FAULTS.md): 16-bit images, symlink loops,
a changed ImageFolder behind its automatic cache, empty class folders."""

import io
import json
import os

import numpy as np
import pytest
from PIL import Image

from alexnet.data.prepare import prepare
from alexnet.data.store import PreparedStore
from data_fixtures import jpeg_bytes, picture


def grey_ramp() -> np.ndarray:
    y, x = np.mgrid[0:64, 0:64]
    return ((x + y) * 2).astype(np.uint8)          # 0 .. 252, mean 126


@pytest.mark.parametrize("kind", ["png16", "tiff32"])
def test_16_bit_grey_png_is_stored_like_its_8_bit_copy(tmp_path, kind):
    from alexnet.use.images import open_image
    eight = grey_ramp()
    (tmp_path / "src" / "a").mkdir(parents=True)
    (tmp_path / "src" / "b").mkdir(parents=True)
    Image.fromarray(eight).save(tmp_path / "src" / "a" / "eight.png")
    if kind == "png16":
        sixteen = Image.fromarray(eight.astype(np.uint16) * 257)      # the same picture in 16 bits
        assert sixteen.mode.startswith("I;16")
        path = tmp_path / "src" / "b" / "sixteen.png"
    else:
        sixteen = Image.fromarray(eight.astype(np.int32) * 257)       # 32-bit integer grey (mode "I")
        path = tmp_path / "src" / "b" / "sixteen.tiff"
    sixteen.save(path)
    # predict reads it as the same grey ramp (JPEG-free: exact up to the 1/256 scaling's rounding)
    assert np.abs(np.asarray(open_image(path, channels=1), dtype=float) - eight).max() <= 1
    prepare(tmp_path / "src", tmp_path / "out", split="train", size=64, workers=1, progress=False)
    store = PreparedStore(tmp_path / "out", "train")
    means = sorted(float(store.decode(i).mean()) for i in range(len(store)))
    # the same grey ramp; the stored JPEG differs from the source by a few levels at most
    assert means[0] == pytest.approx(means[1], abs=2) and means[0] == pytest.approx(eight.mean(), abs=3)


def test_symlink_loop_lists_every_image_once_and_predict_walks_the_same(tmp_path):
    from alexnet.use.images import find_images
    src = tmp_path / "src"
    for c in ("a", "b"):
        (src / c).mkdir(parents=True)
        for i in range(3):
            (src / c / f"{i}.jpg").write_bytes(jpeg_bytes(picture(40, 30, i)))
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "x.jpg").write_bytes(jpeg_bytes(picture(40, 30, 9)))
    os.symlink("..", src / "a" / "loop")                        # back up the tree
    os.symlink(tmp_path / "elsewhere", src / "b" / "more")      # a linked folder of real images: followed
    summary = prepare(src, tmp_path / "out", split="train", size=32, workers=1, progress=False)
    assert summary["splits"]["train"]["images"] == 7
    skipped = [json.loads(x) for x in (tmp_path / "out" / "train" / "skipped.jsonl").read_text().splitlines()]
    assert any("loop" in json.dumps(s) for s in skipped)
    walked = find_images([src])
    assert len(walked) == 7 and len(set(map(os.path.realpath, walked))) == 7


def test_the_automatic_cache_of_an_image_folder_follows_its_changes(tmp_path, monkeypatch, capsys):
    from alexnet.data.open import open_data
    monkeypatch.setenv("ALEXNET_CACHE", str(tmp_path / "cache"))
    src = tmp_path / "photos"
    for c in ("a", "b"):
        (src / c).mkdir(parents=True)
        for i in range(2):
            (src / c / f"{i}.jpg").write_bytes(jpeg_bytes(picture(40, 30, i)))
    assert open_data(src, progress=False).train.num_classes == 2
    capsys.readouterr()
    assert open_data(src, progress=False).train.num_classes == 2        # unchanged: reused
    assert "changed" not in capsys.readouterr().err
    (src / "c").mkdir()
    (src / "c" / "0.jpg").write_bytes(jpeg_bytes(picture(40, 30, 5)))
    opened = open_data(src, progress=False)
    assert opened.train.num_classes == 3 and len(opened.train) == 5
    assert "changed since it was prepared" in capsys.readouterr().err
    (src / "a" / "0.jpg").write_bytes(jpeg_bytes(picture(50, 30, 7)))    # an image replaced
    open_data(src, progress=False)
    assert "changed since it was prepared" in capsys.readouterr().err


def test_an_empty_class_folder_is_kept_with_a_warning(tmp_path, capsys):
    from alexnet.cli.main import main
    for c in ("a", "b"):
        (tmp_path / "src" / c).mkdir(parents=True)
        (tmp_path / "src" / c / "0.jpg").write_bytes(jpeg_bytes(picture(40, 30, 0)))
    (tmp_path / "src" / "empty").mkdir()
    assert main(["prepare", str(tmp_path / "src"), str(tmp_path / "out"), "--split", "train"]) == 0
    err = capsys.readouterr().err
    assert f"class folder {tmp_path / 'src' / 'empty'} holds no files" in err
    assert PreparedStore(tmp_path / "out", "train").num_classes == 3
