"""``alexnet demo`` end to end with tiny settings on synthetic Fashion-MNIST files."""

import json

from alexnet.cli.main import main as cli
from alexnet.weights import load_weights
from train_fixtures import write_fashion_idx


def test_demo_writes_report_weights_and_curves(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ALEXNET_CACHE", str(tmp_path / "cache"))
    fm = write_fashion_idx(tmp_path / "fm")
    out = tmp_path / "demo"
    rc = cli(["demo", "--out", str(out), "--data", str(fm), "--device", "cpu", "--profile", "cpu",
              "--set", "epochs=1", "--set", "max_steps_per_epoch=2", "--set", "batch_size=16",
              "--set", "workers=0"])
    assert rc == 0
    report = json.loads((out / "report.json").read_text())
    for key in ("test_accuracy", "arch", "device", "epochs", "seconds", "input_size", "recipe", "per_epoch",
                "profile", "train_images_seen", "note"):
        assert key in report, key
    assert report["arch"] == "alexnet2012" and report["input_size"] == 64 and report["device"] == "cpu"
    assert report["steps"] == 2 and report["train_images_seen"] == 32 and report["test_images"] == 32
    assert len(report["per_epoch"]) == 1 and 0.0 <= report["test_accuracy"] <= 1.0
    _, meta = load_weights(out / "model.safetensors")
    assert meta.model_kwargs["in_channels"] == 1 and meta.model_kwargs["num_classes"] == 10
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert cli(["demo", "--out", str(out), "--data", str(fm)]) == 2          # a finished demo is kept
    assert "already holds a finished demo" in capsys.readouterr().err
