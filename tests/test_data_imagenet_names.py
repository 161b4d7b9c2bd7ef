"""ILSVRC-2012's 1000 wnids get ImageNet's human names offline; other class lists keep theirs."""

import json

import data_fixtures as fx
from alexnet.data.prepare import prepare
from alexnet.data.sources.ilsvrc import ilsvrc2012_names


def ilsvrc_like_wnids() -> list[str]:
    middle = sorted({f"n0{1500000 + 13 * k:07d}" for k in range(998)})
    return ["n01440764", *middle, "n15075141"]


def test_the_1000_ilsvrc_wnids_get_torchvisions_names_in_index_order():
    names = ilsvrc2012_names(ilsvrc_like_wnids())
    assert names["n01440764"] == "tench" and names["n15075141"] == "toilet tissue"
    assert list(names.values())[1] == "goldfish"


def test_other_class_lists_get_no_imagenet_names():
    wnids = ilsvrc_like_wnids()
    assert ilsvrc2012_names(wnids[:999]) is None                     # not 1000 classes
    assert ilsvrc2012_names(["cat", *wnids[1:]]) is None              # not ImageNet's first wnid
    assert ilsvrc2012_names(sorted(f"class{k:04d}" for k in range(1000))) is None


def test_prepare_stores_imagenet_names_for_an_ilsvrc_tree(tmp_path):
    wnids = ilsvrc_like_wnids()
    for k, wnid in enumerate(wnids):
        folder = tmp_path / "src" / "train" / wnid
        folder.mkdir(parents=True)
        (folder / "a.JPEG").write_bytes(fx.jpeg_bytes(fx.picture(8, 8, k)))
    prepare(tmp_path / "src", tmp_path / "out", split="train", size=16, workers=2, progress=False)
    classes = json.loads((tmp_path / "out" / "classes.json").read_text())
    assert classes["wnids"] == wnids
    assert classes["names"][:2] == ["tench", "goldfish"] and classes["names"][-1] == "toilet tissue"
