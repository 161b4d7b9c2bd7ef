"""`alexnet explain …` end to end: every subcommand on a demo-like net, on a torchvision-format
checkpoint and on the real photos in tests/photos; the top-patches JSON against a recomputation;
evolution over a run that kept its epochs; one-line errors for bad input."""

from __future__ import annotations

import json
import sys

import pytest
import torch
from PIL import Image

from alexnet.cli.main import main
from alexnet.models.summary import summarize
from alexnet.use import Predictor
from alexnet.use.activations import conv_maps
from explain_fixtures import demo_like_weights
from torchvision_fixtures import PHOTOS, photos
from train_fixtures import tiny_config, write_fashion_idx

pytest.importorskip("captum")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return demo_like_weights(tmp_path_factory.mktemp("demo") / "model.safetensors")


def run(argv, capsys):
    rc = main(["explain", *map(str, argv)])
    return rc, capsys.readouterr()


def png_ok(path) -> tuple[int, int]:
    with Image.open(path) as im:
        assert im.format == "PNG"
        return im.size


@pytest.mark.slow   # ~10 s alone, 30 s on two shared cores: five commands, 225 occluded forward passes
def test_every_command_on_the_demo_like_net_and_real_photos(demo, tmp_path, capsys):
    cat = PHOTOS / "chelsea.jpg"
    commands = {
        "top-patches": [demo, PHOTOS, "--layer", "conv2", "--maps", "0-2", "--k", "4"],
        "deconv": [demo, cat, "--layer", "conv4", "--top", "5"],
        "occlusion": [demo, cat, "--target", "Bag"],
        "towers": [demo],
        "saliency": [demo, PHOTOS / "astronaut.jpg", PHOTOS / "coffee.jpg"],
    }
    for name, argv in commands.items():
        png, js = tmp_path / f"{name}.png", tmp_path / f"{name}.json"
        rc, out = run([name, *argv, "--png", png, "--json", js, "--device", "cpu"], capsys)
        assert rc == 0, (name, out.err)
        png_ok(png)
        record = json.loads(js.read_text())
        assert record["command"] == f"explain {name}" and "commit" in record["provenance"]
    occ = json.loads((tmp_path / "occlusion.json").read_text())
    assert occ["target_name"] == "Bag" and occ["patch"] == 9 and len(occ["probability"]) == len(occ["rows"])
    towers = json.loads((tmp_path / "towers.json").read_text())
    assert towers["per_tower"] is None and "grey kernels have no colour" in towers["message"]
    deconv = json.loads((tmp_path / "deconv.json").read_text())
    acts = [u["activation"] for u in deconv["units"]]
    assert len(acts) == 5 and acts == sorted(acts, reverse=True)
    sal = json.loads((tmp_path / "saliency.json").read_text())
    assert [i["path"] for i in sal["images"]] == [str(PHOTOS / "astronaut.jpg"), str(PHOTOS / "coffee.jpg")]


def test_top_patches_json_is_the_receptive_field_and_the_recomputed_activation(demo, tmp_path, capsys):
    js = tmp_path / "tp.json"
    rc, out = run(["top-patches", demo, PHOTOS, "--layer", "conv3", "--maps", "1,7,30", "--k", "3",
                   "--json", js, "--device", "cpu"], capsys)
    assert rc == 0, out.err
    record = json.loads(js.read_text())
    row = next(r for r in summarize("alexnet2012", input_size=64, in_channels=1)["layers"]
               if r["name"] == "features.relu3")
    assert record["receptive_field"] == {"size": row["receptive_field"], "jump": row["jump"],
                                         "start": row["start"], "input_size": 64}
    predictor = Predictor(demo, "cpu")
    names = {str(p) for p in photos()}
    for m, patches in record["maps"].items():
        assert len(patches) == 3 and len({p["path"] for p in patches}) == 3
        for p in patches:
            assert p["path"] in names
            r, j, s = row["receptive_field"], row["jump"], row["start"]
            assert p["box"] == [s + p["y"] * j - r / 2, s + p["x"] * j - r / 2,
                                s + p["y"] * j + r / 2, s + p["x"] * j + r / 2]
            with torch.no_grad():
                maps = conv_maps(predictor.model, predictor.preprocess([p["path"]]), "conv3")[0, int(m)]
            # one image alone vs in a batch of five: the same float32 sums, equal to ~1e-6
            assert float(maps[p["y"], p["x"]]) == pytest.approx(p["activation"], rel=1e-4, abs=1e-5)
            assert float(maps.max()) == pytest.approx(p["activation"], rel=1e-4, abs=1e-5)


@pytest.mark.slow   # ~20-40 s on two shared cores: the 224-px one-tower net, every command
def test_every_command_on_a_torchvision_checkpoint(torchvision_checkpoint, tmp_path, capsys):
    w = torchvision_checkpoint.path
    cat = PHOTOS / "chelsea.jpg"
    commands = {
        "top-patches": [w, PHOTOS, "--layer", "conv5", "--maps", "0,100", "--k", "3"],
        "deconv": [w, cat, "--layer", "conv5", "--top", "3"],
        "occlusion": [w, cat, "--patch", "56", "--stride", "56"],
        "towers": [w],
        "saliency": [w, cat],
    }
    for name, argv in commands.items():
        png, js = tmp_path / f"{name}.png", tmp_path / f"{name}.json"
        rc, out = run([name, *argv, "--png", png, "--json", js, "--device", "cpu"], capsys)
        assert rc == 0, (name, out.err)
        png_ok(png)
    towers = json.loads((tmp_path / "towers.json").read_text())
    assert towers["towers"] == 1 and len(towers["per_tower"]) == 1 and "1 tower" in towers["message"]
    tp = json.loads((tmp_path / "top-patches.json").read_text())
    # torchvision's conv5: 11 (conv1, jump 4) → 19 (pool1, jump 8) → 51 (conv2) → 67 (pool2, jump 16) → 99, 131, 163
    row = next(r for r in summarize("alexnet_owt", input_size=224)["layers"] if r["name"] == "features.11")
    assert tp["receptive_field"]["size"] == row["receptive_field"] == 163
    occ = json.loads((tmp_path / "occlusion.json").read_text())
    assert occ["rows"] == [0, 56, 112, 168]


def test_top_patches_over_a_prepared_store(demo, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ALEXNET_CACHE", str(tmp_path / "cache"))
    fm = write_fashion_idx(tmp_path / "fm", n_train=20, n_test=12)
    js = tmp_path / "store.json"
    rc, out = run(["top-patches", demo, fm, "--split", "val", "--limit", "10", "--layer", "conv1", "--maps", "3",
                   "--json", js, "--png", tmp_path / "s.png", "--device", "cpu"], capsys)
    assert rc == 0, out.err
    record = json.loads(js.read_text())
    assert record["images"].startswith("10 val images of ")
    assert len(record["maps"]["3"]) == 9


@pytest.mark.slow   # ~10-30 s: a 3-step training run, then evolution with its deconvnet pictures
def test_evolution_over_a_run_that_kept_its_epochs(tmp_path, capsys, monkeypatch):
    from alexnet.train.runner import run_training
    monkeypatch.setenv("ALEXNET_CACHE", str(tmp_path / "cache"))
    fm = write_fashion_idx(tmp_path / "fm", n_train=32, n_test=16)
    run_dir = tmp_path / "run"
    run_training(tiny_config(fm, epochs=3, max_steps_per_epoch=1, keep_epoch_weights=True), run_dir)
    kept = sorted(p.name for p in (run_dir / "epochs").iterdir())
    assert kept == ["epoch-001.safetensors", "epoch-002.safetensors", "epoch-003.safetensors"]
    js, png = tmp_path / "evo.json", tmp_path / "evo.png"
    rc, out = run(["evolution", run_dir, fm, "--limit", "8", "--layers", "conv1,conv5", "--maps", "0,1",
                   "--json", js, "--png", png, "--device", "cpu"], capsys)
    assert rc == 0, out.err
    r = json.loads(js.read_text())
    assert r["epochs"] == [1, 2, 3] and set(r["settled_epoch"]) == {"conv1", "conv5"}
    assert r["layers"]["conv1"]["correlation_with_last"][-1] == pytest.approx(1.0)   # the last epoch with itself
    assert [e["epoch"] for e in r["layers"]["conv5"]["maps"]["1"]] == [1, 2, 3]
    png_ok(png)
    rc, out = run(["evolution", tmp_path / "fm", fm, "--device", "cpu"], capsys)   # no kept epochs there
    assert rc == 2 and "keep_epoch_weights=true" in out.err


def test_settled_epoch():
    from alexnet.explain.evolution import _mean_correlation, settled_epoch
    assert settled_epoch([1, 2, 3, 4], [0.2, 0.95, 0.8, 1.0]) == 4
    assert settled_epoch([1, 2, 3], [0.91, 0.95, 1.0]) == 1
    assert settled_epoch([1, 2], [None, 0.5]) is None
    a = torch.tensor([[1.0, 2.0], [2.0, 2.0], [3.0, 2.0]])
    assert _mean_correlation(a, a * 3 + 1) == pytest.approx(1.0)      # column 2 is constant: skipped


@pytest.mark.parametrize("argv, message", [
    (["top-patches", "{w}", "{photos}", "--layer", "conv9"], "unknown layer 'conv9'"),
    (["deconv", "{w}", "{cat}", "--layer", "conv1", "--maps", "96"], "map index 96 is out of range: conv1 has 96 maps"),
    (["occlusion", "{w}", "{bad}"], "not an image Pillow can read"),
    (["saliency", "{w}", "{bad}"], "not an image Pillow can read"),
    (["occlusion", "{w}", "{cat}", "--target", "Zebra"], "unknown class 'Zebra'"),
    (["occlusion", "{w}", "{cat}", "--patch", "100"], "occluding square must be 1 to 64 pixels"),
])
def test_bad_input_is_a_one_line_error(demo, tmp_path, capsys, argv, message):
    bad = tmp_path / "broken.jpg"
    bad.write_text("not a picture")
    subs = {"{w}": str(demo), "{photos}": str(PHOTOS), "{cat}": str(PHOTOS / "chelsea.jpg"), "{bad}": str(bad)}
    rc, out = run([subs.get(a, a) for a in argv] + ["--device", "cpu"], capsys)
    assert rc == 2
    lines = out.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("alexnet explain: error: ") and message in lines[0], out.err


def test_without_captum_the_error_says_what_to_install(demo, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "captum", None)
    monkeypatch.setitem(sys.modules, "captum.attr", None)
    rc, out = run(["saliency", demo, PHOTOS / "chelsea.jpg", "--device", "cpu"], capsys)
    assert rc == 2 and "pip install 'alexnet[explain]'" in out.err and len(out.err.strip().splitlines()) == 1
    rc, out = run(["towers", demo], capsys)          # needs no Captum
    assert rc == 0


@pytest.mark.slow   # ~10 s: a bvlc_alexnet-shaped caffemodel converted, then two explain commands
def test_explain_reads_caffe_weights(tmp_path):
    """The paper's net with Caffe's weights (BGR, 0–255, mean, k = 1): towers measured per tower, and
    occlusion through the file's own preprocessing."""
    from caffe_fixtures import bvlc_weights, write_caffemodel
    model = write_caffemodel(tmp_path / "net.caffemodel", bvlc_weights(0), "layer")
    assert main(["convert", "caffe", str(model), "--out", str(tmp_path / "net.safetensors")]) == 0
    weights = str(tmp_path / "net.safetensors")
    assert main(["explain", "towers", weights, "--png", str(tmp_path / "t.png"), "--json", str(tmp_path / "t.json")]) == 0
    record = json.loads((tmp_path / "t.json").read_text())
    # random N(0, σ) kernels: about 2/3 of their energy off the grey axis in each tower (see REPRODUCTION §7)
    assert record["towers"] == 2 and all(0.55 < t < 0.75 for t in record["per_tower"])
    assert main(["explain", "occlusion", weights, str(PHOTOS / "chelsea.jpg"), "--patch", "48", "--stride", "48",
                 "--png", str(tmp_path / "o.png"), "--json", str(tmp_path / "o.json")]) == 0
    assert (tmp_path / "o.png").stat().st_size > 0
