"""``alexnet demo`` end to end with tiny settings on synthetic Fashion-MNIST files."""

import json

import pytest

from alexnet.cli.main import main as cli
from alexnet.evaluate import evaluate_weights
from alexnet.train.log import LOG_NAME
from alexnet.weights import load_weights
from train_fixtures import write_fashion_idx


@pytest.mark.slow   # ~5 s: a short training run, then evaluate
def test_demo_reports_the_test_accuracy_of_the_weights_it_saved(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ALEXNET_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("ALEXNET_DEMO_STARTED", raising=False)
    fm = write_fashion_idx(tmp_path / "fm")
    out = tmp_path / "demo"
    rc = cli(["demo", "--out", str(out), "--data", str(fm), "--device", "cpu", "--profile", "cpu",
              "--set", "epochs=1", "--set", "max_steps_per_epoch=2", "--set", "batch_size=16",
              "--set", "workers=0", "--set", "amp=off",     # float32 on any CPU: compared with evaluate below
              "--set", "holdout=16"])                       # 16 of the 64 training images (the demo: 5,000)
    assert rc == 0
    report = json.loads((out / "report.json").read_text())
    for key in ("test_accuracy", "validation_accuracy", "arch", "device", "epochs", "seconds", "input_size",
                "recipe", "per_epoch", "profile", "train_images_seen", "note", "provenance", "accuracy_table"):
        assert key in report, key
    assert report["arch"] == "alexnet2012" and report["input_size"] == 64 and report["device"] == "cpu"
    assert report["steps"] == 2 and report["train_images_seen"] == 32 and report["test_images"] == 32
    assert report["validation_images"] == 16 and report["provenance"]["device"] == "cpu"
    assert set(report["provenance"]) >= {"command", "date", "commit", "dirty", "host", "cpu_model", "versions"}

    # the epochs validate on the 16 held-out training images; the test images are tested once, at the end
    events = [json.loads(line) for line in (out / LOG_NAME).read_text().splitlines()]
    epochs = [e for e in events if e["event"] == "epoch"]
    tests = [e for e in events if e["event"] == "test"]
    assert len(epochs) == len(report["per_epoch"]) == 1 and len(tests) == 1 and events[-1]["event"] == "test"
    assert epochs[-1]["val_images"] == 16 and tests[0]["test_images"] == 32
    assert report["validation_accuracy"] == report["per_epoch"][-1]["validation_accuracy"] \
        == 1 - epochs[-1]["val_top1_error"]
    assert report["test_accuracy"] == 1 - tests[0]["test_top1_error"]
    assert report["test_top5_error"] == tests[0]["test_top5_error"]
    assert report["accuracy_table"] == {
        "validation": {"centre view": report["validation_accuracy"], "10 views": report["validation_accuracy_10_views"]},
        "test": {"centre view": report["test_accuracy"], "10 views": report["test_accuracy_10_views"]}}
    held = evaluate_weights([out / "model.safetensors"], fm, split="holdout:16:0", views=10, batch_size=16,
                            workers=0, device="cpu", progress=False)
    assert held["num_images"] == 16 and report["validation_accuracy_10_views"] == 1 - held["top1_error"]
    # ... and the test accuracy is what `alexnet evaluate` measures for the saved weights on the 32 test images
    evaluated = evaluate_weights([out / "model.safetensors"], fm, split="val", batch_size=16, workers=0,
                                 device="cpu", progress=False)
    assert evaluated["num_images"] == 32
    assert 1 - evaluated["top1_error"] == pytest.approx(report["test_accuracy"], abs=1e-9)  # k/32, counted
    # evaluate and the final test run the same float32 net on the same batches of 16, so the same
    # kernels: equal here; only the mean over batches may round differently (~1e-8 relative)
    assert evaluated["loss"] == pytest.approx(tests[0]["test_loss"], rel=1e-5)

    # the paper's 10-view test of the same weights is `alexnet evaluate --views 10`
    ten = evaluate_weights([out / "model.safetensors"], fm, split="val", views=10, batch_size=16, workers=0,
                           device="cpu", progress=False)
    assert report["test_accuracy_10_views"] == 1 - ten["top1_error"]      # k/32 from the same kernels
    assert report["test_top5_error_10_views"] == ten["top5_error"]
    assert report["precision"] == "float32" == report["fast_path"]["precision"]
    assert report["fast_path"]["reason"]["amp"] == 'asked for (amp="off")'
    assert report["augmentation"].startswith("none") and "without flips" in report["note"]   # the CPU profile's
    # bf16 autocast on the CPU (what the demo uses where the CPU has native bf16) is another computation
    # of the same scores: bf16 keeps 8 bits of mantissa, so the mean loss moves by well under 2 %
    ten_bf16 = evaluate_weights([out / "model.safetensors"], fm, split="val", views=10, batch_size=16, workers=0,
                                device="cpu", progress=False, bf16=True)
    assert ten_bf16["loss"] != ten["loss"] and ten_bf16["loss"] == pytest.approx(ten["loss"], rel=2e-2)

    # where the time went: the parts add up to the total, and training and evaluation are the log's
    t = report["time"]
    assert t["train_steps"] == pytest.approx(sum(e["seconds"] for e in epochs), abs=0.1)   # rounded to 0.1 s
    assert t["evaluate"] == pytest.approx(sum(e["val_seconds"] for e in epochs), abs=0.1)
    parts = t["setup"] + t["prepare_data"] + t["train_steps"] + t["evaluate"] + t["final_tests"] + t["other"]
    assert parts == pytest.approx(t["total"], abs=0.35) and min(t.values()) >= 0   # six roundings of 0.05

    _, meta = load_weights(out / "model.safetensors")
    assert meta.model_kwargs["in_channels"] == 1 and meta.model_kwargs["num_classes"] == 10
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert cli(["demo", "--out", str(out), "--data", str(fm)]) == 2          # a finished demo is kept
    assert "already holds a finished demo" in capsys.readouterr().err


def test_the_cpu_demo_leaves_the_fast_path_to_the_trainer():
    """The trainer chooses the host's fastest precision (tests/test_fast_path.py); the demo's config
    says "auto" unless the user sets it."""
    import alexnet.demo as demo
    cfg = demo.demo_config(None, "cpu", "cpu")
    assert (cfg.amp, cfg.compile, cfg.channels_last) == ("auto", "auto", "auto")
    assert demo.demo_config(None, "cpu", "cpu", {"amp": "off"}).amp == "off"     # the user's choice wins


