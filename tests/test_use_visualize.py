"""alexnet.use.visualize and `alexnet visualize`: every picture is a PNG of the documented size."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from alexnet.cli.main import main
from alexnet.models import alexnet2012, alexnet_owt
from alexnet.train.curves import read_log
from alexnet.use.visualize import _minmax, _mosaic, filters_figure
from alexnet.weights import save_weights

PRE = {"resize": 73, "crop": 67, "channels": 3, "pixel_scale": 255.0, "mean": None, "std": None,
       "mean_image": True}


def make_weights(path, channels=3):
    torch.manual_seed(0)
    model = alexnet2012(num_classes=4, in_channels=channels, input_size=67)
    save_weights(path, model, class_names=["cat", "dog", "a very long class name", "ship"],
                 preprocessing={**PRE, "channels": channels},
                 extra_tensors={"mean_image": torch.full((channels, 73, 73), 120.0)})
    return path


def png_size(path) -> tuple[int, int]:
    assert path.stat().st_size > 1000
    with Image.open(path) as im:
        assert im.format == "PNG"
        return im.size


@pytest.fixture
def weights(tmp_path):
    return make_weights(tmp_path / "model.safetensors")


@pytest.fixture
def images(tmp_path):
    rng = np.random.default_rng(0)
    paths = []
    for n in range(3):
        p = tmp_path / f"pic{n}.png"
        Image.fromarray(rng.integers(0, 256, (70 + 10 * n, 90, 3), dtype=np.uint8)).save(p)
        paths.append(p)
    return paths


def test_kernels_are_normalised_and_towers_split():
    w = torch.randn(5, 3, 11, 11) * 0.01
    tiles = _minmax(w)   # (w − min) / (max − min) in float32: 0 and 1 to within allclose's 1e-5
    assert torch.allclose(tiles.flatten(1).min(1).values, torch.zeros(5))
    assert torch.allclose(tiles.flatten(1).max(1).values, torch.ones(5))
    mosaic = _mosaic(tiles.permute(0, 2, 3, 1).numpy(), cols=2, gap=1)
    assert mosaic.shape == (3 * 12 - 1, 2 * 12 - 1, 3)
    assert np.allclose(mosaic[:11, :11], tiles[0].permute(1, 2, 0).numpy())   # copied: equal up to dtype
    assert np.allclose(mosaic[12:23, 12:23], tiles[3].permute(1, 2, 0).numpy())


def test_filters_png(weights, tmp_path, capsys):
    out = tmp_path / "filters.png"
    assert main(["visualize", "filters", str(weights), "--png", str(out)]) == 0
    assert png_size(out) == (800, 400)  # two towers, one panel each
    grey = make_weights(tmp_path / "grey.safetensors", channels=1)
    assert main(["visualize", "filters", str(grey), "--png", str(tmp_path / "g.png")]) == 0
    assert png_size(tmp_path / "g.png") == (800, 400)
    one_tower = alexnet_owt(num_classes=3)
    assert png_size(filters_figure(one_tower, tmp_path / "owt.png")) == (800, 200)
    half = alexnet2012(num_classes=3, towers=1)
    assert png_size(filters_figure(half, tmp_path / "half.png")) == (800, 200)


def test_activations_png(weights, images, tmp_path):
    for layer in ("conv1", "conv5"):
        out = tmp_path / f"{layer}.png"
        assert main(["visualize", "activations", str(weights), str(images[0]), "--png", str(out),
                     "--layer", layer, "--device", "cpu"]) == 0
        assert png_size(out) == (800, 800)


def test_predictions_png(weights, images, tmp_path):
    out = tmp_path / "pred.png"
    assert main(["visualize", "predictions", str(weights), *map(str, images), "--png", str(out),
                 "--topk", "3", "--device", "cpu"]) == 0
    assert png_size(out) == (250 * 3, 500)


def test_curves_png_from_a_training_log(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    lines = [{"event": "start", "step": 0, "epoch": 0}]
    for step in range(1, 31):
        lines.append({"event": "step", "step": step, "epoch": step // 10, "loss": 2.3 - step * 0.02,
                      "lr": 0.01 if step < 20 else 0.001, "images_per_s": 100.0})
        if step % 10 == 0:
            e = step // 10 - 1
            lines.append({"event": "epoch", "epoch": e, "step": step, "train_loss": 2.0 - e * 0.1,
                          "train_top1_error": 0.8 - e * 0.1, "train_top5_error": 0.5 - e * 0.1, "lr": 0.01,
                          "seconds": 3.0, **({"val_top1_error": 0.7 - e * 0.1} if e != 1 else {})})
    text = "\n".join(json.dumps(r) for r in lines) + "\n{\"event\": \"ep"  # last line cut by a kill
    (run / "log.jsonl").write_text(text)
    epochs, intervals = read_log(run)
    assert [r["epoch"] for r in epochs] == [1, 2, 3] and len(intervals) == 30
    out = tmp_path / "curves.png"
    assert main(["visualize", "curves", str(run), "--png", str(out)]) == 0
    assert png_size(out) == (1500, 450)


def test_curves_of_several_runs_go_on_one_figure(tmp_path):
    from alexnet.train.curves import curves_figure
    runs = {}
    for name, slope in (("relu", 0.05), ("tanh", 0.01)):
        run = tmp_path / name
        run.mkdir()
        lines = [{"event": "step", "step": s, "epoch": 0, "loss": 2.3 - slope * s, "lr": 0.01} for s in range(1, 11)]
        lines.append({"event": "epoch", "epoch": 0, "step": 10, "train_top1_error": 0.5, "val_top1_error": 0.6})
        (run / "log.jsonl").write_text("\n".join(json.dumps(r) for r in lines) + "\n")
        runs[name] = run
    out = curves_figure(runs, tmp_path / "both.png", title="activation")
    assert png_size(out) == (1500, 450)
    one = np.asarray(Image.open(curves_figure(runs["relu"], tmp_path / "one.png")))
    two = np.asarray(Image.open(out))
    assert one.shape == two.shape and not np.array_equal(one, two)    # the second run is drawn


def test_curves_clear_error_without_epochs(tmp_path, capsys):
    (tmp_path / "log.jsonl").write_text(json.dumps({"event": "step", "step": 1, "epoch": 0, "loss": 2.0}) + "\n")
    assert main(["visualize", "curves", str(tmp_path), "--png", str(tmp_path / "c.png")]) == 2
    assert "no epoch records" in capsys.readouterr().err
    assert main(["visualize", "curves", str(tmp_path / "nowhere"), "--png", str(tmp_path / "c.png")]) == 2
    assert "training log not found" in capsys.readouterr().err
    assert not (tmp_path / "c.png").exists()
