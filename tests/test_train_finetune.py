"""Fine-tuning a saved net on a tiny generated ImageFolder of three colours beats chance."""

import numpy as np
import pytest
import torch
from PIL import Image

from alexnet.cli.main import main as cli
from alexnet.models import create
from alexnet.weights import load_weights, save_weights

COLOURS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220)}


def _image_folder(root, per_class, seed):
    rng = np.random.default_rng(seed)
    for name, rgb in COLOURS.items():
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            img = np.clip(np.array(rgb) + rng.normal(0, 25, (40, 40, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(img).save(root / name / f"{i}.png")


@pytest.mark.slow   # ~30 s on two CPU cores: 15 steps of a 57M-parameter net and 5 validations
def test_finetune_on_an_image_folder_beats_chance(tmp_path, monkeypatch):
    monkeypatch.setenv("ALEXNET_CACHE", str(tmp_path / "cache"))
    data = tmp_path / "images"
    _image_folder(data / "train", 16, 0)
    _image_folder(data / "val", 8, 1)
    # torchvision's one-tower net: PyTorch's default init learns in a few steps, unlike the
    # paper's N(0, 0.01) init, whose flat start would take far longer than a unit test.
    torch.manual_seed(0)
    base = create("alexnet_owt", num_classes=10)
    weights = tmp_path / "base.safetensors"
    save_weights(weights, base, preprocessing={"resize": 256, "crop": 64, "channels": 3, "pixel_scale": 1.0,
                                               "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225],
                                               "mean_image": False})
    common = ["--input-size", "64", "--batch-size", "16", "--workers", "0", "--device", "cpu", "--set", "log_interval=1"]
    out = tmp_path / "ft"
    assert cli(["finetune", str(weights), str(data), "--epochs", "4", "--set", "optimizer=adam", "--lr", "1e-4",
                "--out", str(out), *common]) == 0
    state, meta = load_weights(out / "model.safetensors")
    assert meta.class_names == ["blue", "green", "red"] and state["classifier.6.weight"].shape == (3, 4096)
    assert meta.config["finetuned_from"].endswith("base.safetensors")
    assert meta.metrics["val_top1_error"] < 1 - 1 / 3 - 0.25, meta.metrics   # chance is 2/3 error

    frozen = tmp_path / "frozen"
    assert cli(["finetune", str(weights), str(data), "--freeze", "features", "--epochs", "1",
                "--out", str(frozen), *common]) == 0
    state, meta = load_weights(frozen / "model.safetensors")
    assert meta.config["freeze"] == "features" and meta.config["augment"] == "torchvision"
    base_state = base.state_dict()
    for k, v in base_state.items():   # conv layers bit-identical to the pre-trained ones, fc6/fc7 moved
        assert torch.equal(state[k], v) == k.startswith("features."), k


@pytest.mark.slow   # ~5 s: prepare, then an epoch of training
def test_grey_whole_image_net_finetunes_on_rgb_folder_as_whole_grey_images(tmp_path, monkeypatch):
    """The Fashion-MNIST demo's kind of net (1 channel, images resized whole to 64) on RGB photos."""
    monkeypatch.setenv("ALEXNET_CACHE", str(tmp_path / "cache"))
    data = tmp_path / "images"
    _image_folder(data / "train", 8, 0)
    _image_folder(data / "val", 4, 1)
    torch.manual_seed(0)
    base = create("alexnet2012", num_classes=10, in_channels=1, input_size=64)
    weights = tmp_path / "grey.safetensors"
    save_weights(weights, base, preprocessing={"resize": 64, "crop": 64, "channels": 1, "pixel_scale": 255.0,
                                               "mean": None, "std": None, "mean_image": True},
                 extra_tensors={"mean_image": torch.full((1, 28, 28), 70.0)})
    out = tmp_path / "ft"
    assert cli(["finetune", str(weights), str(data), "--epochs", "1", "--batch-size", "8", "--workers", "0",
                "--device", "cpu", "--out", str(out)]) == 0
    _, meta = load_weights(out / "model.safetensors")
    assert meta.config["whole_image"] is True and meta.model_kwargs["in_channels"] == 1
    assert meta.preprocessing["resize"] == 64 and meta.preprocessing["channels"] == 1
    mean = meta.extra_tensors["mean_image"]   # recomputed on the new RGB data, as luma
    assert mean.shape == (1, 256, 256)
    # BT.601 luma of the three colours, 86.8 / 130.9 / 57.5, over as many images each: 91.8. The noise
    # clipped at 0 and the resize and storage round it by < 1 (91.9 measured); the base's mean was 70
    luma = sum(0.299 * r + 0.587 * g + 0.114 * b for r, g, b in COLOURS.values()) / len(COLOURS)
    assert mean.mean().item() == pytest.approx(luma, abs=3)
