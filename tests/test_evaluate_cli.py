"""`alexnet evaluate` end to end on a tiny prepared store and tiny saved nets."""

from __future__ import annotations

import csv
import gzip
import json

import numpy as np
import pytest
import torch
from PIL import Image

from alexnet.cli.main import main
from alexnet.data.prepare import prepare
from alexnet.data.store import PreparedStore
from alexnet.evaluate import evaluate_weights, format_result, paper_comparison
from alexnet.models import alexnet2012
from alexnet.weights import save_weights

STORED, CROP = 76, 67
CLASSES = ["cat", "dog", "fox"]


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory):
    """An ImageFolder tree (3 classes; 4 train, 2 val images each) prepared into a 76×76 JPEG store."""
    src = tmp_path_factory.mktemp("src")
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for c, name in enumerate(CLASSES):
            d = src / split / name
            d.mkdir(parents=True)
            for i in range(4 if split == "train" else 2):
                base = np.zeros((90, 100, 3), np.uint8)
                base[..., c] = 200  # a colour per class, plus noise
                img = np.clip(base + rng.integers(0, 56, base.shape), 0, 255).astype(np.uint8)
                Image.fromarray(img).save(d / f"{i}.png")
    out = tmp_path_factory.mktemp("store")
    prepare(src, out, size=STORED, workers=1, progress=False)
    return out


def save_net(path, seed: int, num_classes: int = 3, in_channels: int = 3, mean_image=None, calibrate=None,
             **extra):
    """A random alexnet2012 saved with save_weights. ``calibrate``: input batch on which fc8's bias
    is shifted to centre the logits, so that the random net's predictions differ between images."""
    torch.manual_seed(seed)
    net = alexnet2012(num_classes=num_classes, in_channels=in_channels, input_size=CROP, dropout=0.0).eval()
    with torch.no_grad():
        net.fc8.weight.normal_(0, 0.05)  # logits of a few units: probabilities far from 0 and 1
        if calibrate is not None:
            net.fc8.bias -= net(calibrate).mean(0)
    pre = {"resize": None, "crop": CROP, "channels": in_channels, "pixel_scale": 255,
           "mean": None, "std": None, "mean_image": mean_image is not None}
    save_weights(path, net, class_names=CLASSES if num_classes == 3 else None, preprocessing=pre,
                 extra_tensors={"mean_image": mean_image} if mean_image is not None else None, **extra)
    return net.eval()


def stored_images(store_dir, split="val"):
    store = PreparedStore(store_dir, split)
    images = torch.from_numpy(np.stack([store.decode(i) for i in range(len(store))])).permute(0, 3, 1, 2)
    return images, torch.from_numpy(store.labels), store


def mean_chw(store):
    return torch.from_numpy(store.stats().mean_image).permute(2, 0, 1).contiguous()


def centre(x, crop=CROP):
    o = (x.shape[-1] - crop) // 2
    return x[..., o:o + crop, o:o + crop]


def ten_by_hand(x, crop=CROP):
    e = x.shape[-1] - crop
    crops = [x[..., :crop, :crop], x[..., :crop, e:], x[..., e:, :crop], x[..., e:, e:], centre(x, crop)]
    return crops + [c.flip(-1) for c in crops]


def test_cli_json_matches_a_direct_computation_and_writes_the_files(store_dir, tmp_path, capsys):
    images, labels, store = stored_images(store_dir)
    mean = mean_chw(store)
    run = tmp_path / "run"
    net = save_net(run / "model.safetensors", 0, mean_image=mean, calibrate=centre(images.float() - mean))
    out = tmp_path / "eval"
    rc = main(["evaluate", str(run), "--data", str(store_dir), "--out", str(out), "--json",
               "--workers", "0", "--batch-size", "5", "--device", "cpu"])
    assert rc == 0
    result = json.loads(capsys.readouterr().out)

    with torch.no_grad():
        probs = net(centre(images.float() - mean)).softmax(1)
    pred = probs.argmax(1)
    assert result["num_images"] == len(labels) == 6
    assert result["num_classes"] == 3 and result["views"] == 1 and result["paper"] == []
    # The CLI ran batches of 5, this one batch of 6: CPU convolution kernels differ with the batch size
    # (~1e-4 on activations ~1 on an AMD EPYC), moving the logits by < 1e-3. No prediction is that
    # close to a tie (probability gaps ≥ 0.01 here), and the loss (~1.1) may move by ~1e-4 of itself.
    ranked = probs.sort(1, descending=True).values
    assert (ranked[:, 0] - ranked[:, 1]).min() > 2e-3
    assert result["top1_error"] == pytest.approx(1.0 - (probs.argmax(1) == labels).double().mean().item())   # k/6: float32 vs float64 only
    assert len(set(pred.tolist())) > 1  # the fixture's net does not predict one class for everything
    assert result["loss"] == pytest.approx(-probs[torch.arange(6), labels].log().mean().item(), rel=1e-3)

    with open(out / "confusion.csv") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["true\\predicted", *CLASSES]
    table = np.array([[int(v) for v in r[1:]] for r in rows[1:]])
    direct = np.zeros((3, 3), int)
    np.add.at(direct, (labels.numpy(), pred.numpy()), 1)
    assert (table == direct).all()
    assert (np.load(out / "confusion.npy", allow_pickle=False) == direct).all()
    per_class = json.loads((out / "per_class.json").read_text())
    for c in range(3):
        assert per_class[c]["class"] == CLASSES[c] and per_class[c]["images"] == 2
        assert per_class[c]["accuracy"] == direct[c, c] / 2
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["top1_error"] == result["top1_error"]
    # where the result came from: the one provenance record (alexnet.provenance)
    assert metrics["provenance"]["device"] == "cpu" and set(metrics["provenance"]) >= {"commit", "dirty", "host"}
    events = [json.loads(line)["event"] for line in (out / "evaluate.jsonl").read_text().splitlines()]
    assert events[0] == "start" and events[-1] == "end"


def test_ten_view_ensemble_is_the_mean_over_views_and_checkpoints(store_dir, tmp_path):
    images, labels, store = stored_images(store_dir)
    mean = mean_chw(store)
    a = save_net(tmp_path / "a" / "model.safetensors", 1, mean_image=mean)
    b = save_net(tmp_path / "b" / "model.safetensors", 2)  # no mean image: a different preprocessing
    result = evaluate_weights([tmp_path / "a", tmp_path / "b" / "model.safetensors"], store_dir, views=10,
                              batch_size=4, workers=1, device="cpu", progress=False)
    x = images.float()
    with torch.no_grad():
        pa = a(torch.cat(ten_by_hand(x - mean))).softmax(1).view(10, 6, 3).mean(0)
        pb = b(torch.cat(ten_by_hand(x))).softmax(1).view(10, 6, 3).mean(0)
    probs = (pa + pb) / 2
    assert result["views"] == 10 and len(result["checkpoints"]) == 2
    # batches of 4 there, of 60 here: batch-size-dependent CPU kernels move probabilities by < 1e-3,
    # far less than any gap between an image's two most probable classes (≥ 0.6 here)
    ranked = probs.sort(1, descending=True).values
    assert (ranked[:, 0] - ranked[:, 1]).min() > 2e-3
    assert result["top1_error"] == pytest.approx(1.0 - (probs.argmax(1) == labels).double().mean().item())   # k/6: float32 vs float64 only
    assert result["loss"] == pytest.approx(-probs[torch.arange(6), labels].log().mean().item(), rel=1e-3)
    one = evaluate_weights([tmp_path / "a"], store_dir, views=10, workers=0, device="cpu", progress=False)
    assert one["loss"] == pytest.approx(-pa[torch.arange(6), labels].log().mean().item(), rel=1e-3)  # as above
    assert abs(one["loss"] - result["loss"]) > 0.01    # the second net counts: 3.03 alone, 3.09 with it
    assert "ensemble of 2 CNNs" in format_result(result)


def test_text_output_default_out_dir_and_data_from_the_checkpoint(store_dir, tmp_path, capsys):
    run = tmp_path / "run"
    save_net(run / "model.safetensors", 3, config={"data": str(store_dir)})
    assert main(["evaluate", str(run / "model.safetensors"), "--workers", "0", "--device", "cpu"]) == 0
    text = capsys.readouterr().out
    assert "top-1 error" in text and "top-5 error" in text and "SPEC §4" not in text
    assert (run / "eval-val-1view" / "confusion.csv").is_file()


def test_paper_numbers_are_shown_for_1000_classes():
    result = {"checkpoints": ["m"], "views": 10, "data": "d", "split": "val", "num_images": 50000,
              "num_classes": 1000, "top1_error": 0.4, "top5_error": 0.18, "loss": 1.8,
              "images_per_second": 1.0, "device": "cpu", "seconds": 1.0}
    result["paper"] = paper_comparison(result)
    text = format_result(result)
    assert "SPEC §4" in text and "40.70" in text and "16.40" in text and "37.50" in text
    assert paper_comparison({**result, "num_classes": 10}) == []


def test_missing_checkpoint_is_a_clear_error(store_dir, tmp_path, capsys):
    assert main(["evaluate", str(tmp_path / "nope.safetensors"), "--data", str(store_dir)]) == 2
    err = capsys.readouterr().err
    assert "nope.safetensors" in err and "no such file" in err
    (tmp_path / "empty_run").mkdir()
    assert main(["evaluate", str(tmp_path / "empty_run"), "--data", str(store_dir)]) == 2
    assert "without model.safetensors" in capsys.readouterr().err


def test_class_count_mismatch_is_a_clear_error(store_dir, tmp_path, capsys):
    save_net(tmp_path / "model.safetensors", 4, num_classes=5)
    rc = main(["evaluate", str(tmp_path / "model.safetensors"), "--data", str(store_dir),
               "--out", str(tmp_path / "o"), "--device", "cpu"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "predicts 5 classes" in err and "has 3" in err


def test_missing_data_and_bad_views_are_clear_errors(tmp_path, capsys):
    save_net(tmp_path / "model.safetensors", 5)
    assert main(["evaluate", str(tmp_path), "--device", "cpu"]) == 2
    assert "pass --data" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path), "--data", str(tmp_path / "absent"), "--device", "cpu"]) == 2
    assert "absent" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["evaluate", str(tmp_path), "--views", "5"])


def _write_idx(path, array: np.ndarray, magic_type: int = 0x08):
    header = bytes([0, 0, magic_type, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_fashion_mnist_idx_directory_is_prepared_into_the_cache(tmp_path, monkeypatch):
    idx = tmp_path / "fmnist"
    idx.mkdir()
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (20, 28, 28), dtype=np.uint8)
    labels = np.arange(20) % 10
    _write_idx(idx / "t10k-images-idx3-ubyte.gz", images)
    _write_idx(idx / "t10k-labels-idx1-ubyte.gz", labels)
    _write_idx(idx / "train-images-idx3-ubyte.gz", images[::-1])
    _write_idx(idx / "train-labels-idx1-ubyte.gz", labels[::-1])
    monkeypatch.setenv("ALEXNET_CACHE", str(tmp_path / "cache"))
    torch.manual_seed(6)
    net = alexnet2012(num_classes=10, in_channels=1, input_size=CROP, dropout=0.0)
    with torch.no_grad():
        net.fc8.weight.normal_(0, 1.0)
    pre = {"resize": 72, "crop": CROP, "channels": 1, "pixel_scale": 1.0, "mean": [0.3], "std": [0.35]}
    save_weights(tmp_path / "m.safetensors", net, preprocessing=pre)
    result = evaluate_weights([tmp_path / "m.safetensors"], idx, workers=0, device="cpu", progress=False)
    assert list((tmp_path / "cache").glob("fashion-mnist*/val/meta.json"))
    x = torch.from_numpy(images).float()[:, None] / 255
    x = torch.nn.functional.interpolate(x, size=(72, 72), mode="bilinear", align_corners=False)
    with torch.no_grad():
        logits = net.eval()(centre((x - 0.3) / 0.35))
    assert result["num_images"] == 20 and result["num_classes"] == 10
    y = torch.from_numpy(labels)
    # no near-ties, so the counts below hold on any CPU: logits of up to ~120 may move by ~1e-2 between
    # float32 kernels, and the 1st/2nd and 5th/6th of each image lie ≥ 0.7 apart
    ranked = logits.sort(1, descending=True).values
    assert (ranked[:, 0] - ranked[:, 1]).min() > 0.1 and (ranked[:, 4] - ranked[:, 5]).min() > 0.1
    # counted by hand: an image is a top-5 error when its label is not among its 5 most probable classes
    top5_errors = (logits.topk(5, dim=1).indices != y[:, None]).all(1).sum().item()
    assert result["top1_error"] == (logits.argmax(1) != y).sum().item() / 20
    assert result["top5_error"] == top5_errors / 20 and 0 < top5_errors < 20


def test_preprocessing_that_names_a_missing_mean_image_is_an_error(store_dir, tmp_path):
    torch.manual_seed(7)
    net = alexnet2012(num_classes=3, input_size=CROP)
    save_weights(tmp_path / "model.safetensors", net, class_names=CLASSES,
                 preprocessing={"crop": CROP, "channels": 3, "pixel_scale": 255, "mean_image": True})
    with pytest.raises(ValueError, match="no preprocess.mean_image"):
        evaluate_weights([tmp_path], store_dir, device="cpu", workers=0, progress=False)


def test_a_different_class_order_is_refused(store_dir, tmp_path):
    torch.manual_seed(8)
    net = alexnet2012(num_classes=3, input_size=CROP)
    save_weights(tmp_path / "model.safetensors", net, class_names=["dog", "cat", "fox"],
                 preprocessing={"crop": CROP, "channels": 3, "pixel_scale": 255})
    with pytest.raises(ValueError, match="class order differs"):
        evaluate_weights([tmp_path], store_dir, device="cpu", workers=0, progress=False)
