"""torchvision's ImageNet AlexNet through every command, checked against torchvision itself (issue 13).

The checkpoint is the session fixture ``torchvision_checkpoint`` (tests/torchvision_fixtures.py):
``torchvision.models.alexnet`` with seeded random weights and a peaky fc8, saved as torchvision's
``alexnet-owt-7be5be79.pth`` is, in a temporary TORCH_HOME. The real file is never downloaded.
The images are real photographs (tests/photos, public domain / CC0, see its README.md).

Tolerances: our pipeline feeds the net the same input tensors as torchvision's (checked bit for
bit), so what is left is the order of summation inside the conv/matmul kernels, which oneDNN
picks by CPU model and batch size: measured ≤ 2e-5 on the softmax between batch sizes 1 and 5.
``PROB_ATOL`` = 1e-4 allows 5× that; a preprocessing error moves these top-5 probabilities by
tenths (a crop one pixel off: up to 0.9, checked in test_a_one_pixel_crop_error_shows).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
import torchvision.transforms as T
import torchvision.transforms.functional as TF
from PIL import Image
from torchvision.models import AlexNet_Weights

from alexnet.cli.main import main
from alexnet.constants import imagenet_class_names
from alexnet.data.store import PreparedStore
from alexnet.data.views import Preprocessing, make_view_fn, pil_to_stored
from alexnet.use import FeatureIndex, Predictor
from alexnet.weights import (TORCHVISION_FILE, TORCHVISION_PREPROCESSING, TORCHVISION_TAG, file_sha256,
                             load_torchvision_state_dict, load_weights, resolve_weights_path,
                             torchvision_cache_path)
from torchvision_fixtures import photos, torchvision_reference, torchvision_transform

PROB_ATOL = 1e-4    # see the module docstring
README = Path(__file__).resolve().parents[1] / "README.md"
DOWNLOAD_LINE = "python -c \"import torchvision; torchvision.models.alexnet(weights='IMAGENET1K_V1')\""


@pytest.fixture(scope="module")
def tv(torchvision_checkpoint):
    """torchvision's own model with the checkpoint's weights."""
    return torchvision_reference(torchvision_checkpoint.path)


@pytest.fixture(scope="module")
def predictor(torchvision_checkpoint):
    return Predictor(torchvision_checkpoint.path, device="cpu")


def rgb_photos() -> list[Image.Image]:
    return [Image.open(p).convert("RGB") for p in photos()]


def torchvision_probs(tv, images: list[Image.Image]) -> torch.Tensor:
    """torchvision's pipeline: ``AlexNet_Weights.IMAGENET1K_V1.transforms()`` + the model + softmax."""
    transform = torchvision_transform()
    with torch.inference_mode():
        return tv(torch.stack([transform(im) for im in images])).softmax(1)


def top5(probs: torch.Tensor) -> tuple[list[list[int]], torch.Tensor]:
    values, indices = probs.topk(5)
    return indices.tolist(), values


# ------------------------------------------------------------------------------- what torchvision does

def test_the_recorded_preprocessing_is_torchvisions_for_these_weights():
    t = AlexNet_Weights.IMAGENET1K_V1.transforms()
    pre = TORCHVISION_PREPROCESSING
    assert (t.resize_size, t.crop_size) == ([pre["resize"]], [pre["crop"]]) == ([256], [224])
    assert t.interpolation == T.InterpolationMode.BILINEAR and t.antialias is True
    assert (t.mean, t.std) == (pre["mean"], pre["std"]) and pre["pixel_scale"] == 1.0
    assert pre["source_resize"] == "shorter-side"
    assert AlexNet_Weights.IMAGENET1K_V1.meta["categories"] == imagenet_class_names()
    # The one-line download puts the file exactly where the shorthand looks.
    assert AlexNet_Weights.IMAGENET1K_V1.url.rsplit("/", 1)[1] == TORCHVISION_FILE


def test_the_photographs_exercise_square_landscape_portrait_and_rounding():
    sizes = [Image.open(p).size for p in photos()]
    assert len(sizes) >= 4
    assert any(w == h for w, h in sizes) and any(w > h for w, h in sizes) and any(w < h for w, h in sizes)
    # torchvision's resized long side int(256·long/short) is odd for some: the centre crop's offset
    # (long − 224) / 2 is then a half pixel, rounded (half to even) by torchvision.
    assert any(int(256 * max(s) / min(s)) % 2 for s in sizes)
    assert any(min(s) < 256 for s in sizes) and any(min(s) > 256 for s in sizes)   # up- and downscaled


# ------------------------------------------------------------------------------------------- predict

def test_centre_view_top5_equals_torchvisions_own_pipeline_on_photos(tv, predictor):
    images = rgb_photos()
    transform = torchvision_transform()
    # The net's input is torchvision's, bit for bit: resize, crop, scale and normalisation agree.
    assert torch.equal(predictor.preprocess(photos()), torch.stack([transform(im) for im in images]))
    expected = torchvision_probs(tv, images)
    got = predictor.probabilities(photos())
    (want_idx, want_p), (got_idx, got_p) = top5(expected), top5(got)
    assert got_idx == want_idx
    torch.testing.assert_close(got_p, want_p, rtol=0, atol=PROB_ATOL)
    names = imagenet_class_names()
    for row, idx, p in zip(predictor.predict(photos(), topk=5), want_idx, want_p.tolist()):
        assert [c for c, _ in row] == [names[i] for i in idx]
        assert [q for _, q in row] == pytest.approx(p, abs=PROB_ATOL)
    # The fixture is peaky, so the comparison above is a sharp one.
    assert float(want_p[:, 0].min()) > 0.4 and len({i[0] for i in want_idx}) >= 3


def test_a_one_pixel_crop_error_shows(tv):
    """The fixture net is sensitive enough that PROB_ATOL separates right from wrong preprocessing."""
    images = rgb_photos()
    expected = torchvision_probs(tv, images)
    normalize = T.Normalize(AlexNet_Weights.IMAGENET1K_V1.transforms().mean,
                            AlexNet_Weights.IMAGENET1K_V1.transforms().std)
    shifted = []
    for im in images:
        r = TF.pil_to_tensor(TF.resize(im, 256)).float() / 255
        top, left = int(round((r.shape[1] - 224) / 2)) + 1, int(round((r.shape[2] - 224) / 2))
        shifted.append(normalize(r[:, top:top + 224, left:left + 224]))
    with torch.inference_mode():
        wrong = tv(torch.stack(shifted)).softmax(1)
    idx, values = top5(expected)
    moved = (wrong.gather(1, torch.tensor(idx)) - values).abs().max()
    assert moved > 1000 * PROB_ATOL, moved        # measured: 0.9


def test_ten_views_are_torchvisions_ten_crop_of_the_resized_centre_square(tv, predictor):
    """10 views: torchvision's Resize(256) → CenterCrop(256) → TenCrop(224), built by hand."""
    images = rgb_photos()
    ten_crop = T.Compose([T.Resize(256), T.CenterCrop(256), T.TenCrop(224)])
    to_input = T.Compose([T.ToTensor(), T.Normalize(TORCHVISION_PREPROCESSING["mean"],
                                                     TORCHVISION_PREPROCESSING["std"])])
    crops = torch.stack([torch.stack([to_input(c) for c in ten_crop(im)]) for im in images], 1)  # (10, N, 3, 224, 224)
    ours = predictor.preprocess(photos(), views=10)
    # TenCrop takes the five crops of the flipped image, so its flipped top-left is the mirror of
    # the top-right; ours lists view 5+k as the mirror of view k.
    order = [0, 1, 2, 3, 4, 6, 5, 8, 7, 9]
    assert torch.equal(ours, crops[order])
    for k in range(5):
        assert torch.equal(ours[5 + k], ours[k].flip(-1))
    with torch.inference_mode():
        mean_softmax = tv(crops.flatten(0, 1)).softmax(1).view(10, len(images), -1).mean(0)
    got = predictor.probabilities(photos(), views=10)
    torch.testing.assert_close(got, mean_softmax, rtol=0, atol=PROB_ATOL)
    assert top5(got)[0] == top5(mean_softmax)[0]


@pytest.mark.parametrize("mode", ["L", "RGBA"])
def test_grey_and_rgba_photos_are_read_as_convert_rgb(tv, predictor, tmp_path, mode):
    photo = Image.open(photos()[1]).convert("RGB")
    if mode == "L":
        image = photo.convert("L")
    else:   # transparency varying across the image: dropped, the colour under it kept
        image = photo.convert("RGBA")
        image.putalpha(Image.linear_gradient("L").resize(photo.size))
    image.save(tmp_path / "photo.png")
    expected = torchvision_probs(tv, [image.convert("RGB")])
    for given in (image, tmp_path / "photo.png"):     # a PIL image, and a file read from disk
        got = predictor.probabilities([given])
        assert top5(got)[0] == top5(expected)[0]
        torch.testing.assert_close(got, expected, rtol=0, atol=PROB_ATOL)
    # The checks above are not vacuous: the colour photo, and compositing onto white (what a viewer
    # shows of a transparent image), would each have changed the answer.
    other = photo if mode == "L" else Image.alpha_composite(Image.new("RGBA", photo.size, "white"), image).convert("RGB")
    assert not torch.allclose(torchvision_probs(tv, [other]), expected, atol=0.01)


# ------------------------------------------------------------------------------- convert and shorthand

def test_convert_torchvision_records_arch_names_sha256_and_preprocessing(torchvision_checkpoint, tv, tmp_path,
                                                                         capsys):
    src = torchvision_checkpoint.path
    out = tmp_path / "owt.safetensors"
    assert main(["convert", "torchvision", str(src), "--out", str(out)]) == 0
    assert "ImageNet's 1000 class names" in capsys.readouterr().out
    state, meta = load_weights(out)
    assert meta.arch == "alexnet_owt" and meta.model_kwargs["num_classes"] == 1000
    assert meta.class_names == imagenet_class_names()             # offline: no download
    assert meta.source == {"kind": "torchvision", "file": str(src), "sha256": file_sha256(src)}
    assert meta.preprocessing == TORCHVISION_PREPROCESSING
    for k, v in tv.state_dict().items():     # the same tensors, so with the same preprocessing the same answers
        assert torch.equal(state[k], v), k

    back = tmp_path / "back.pth"
    assert main(["convert", "to-torchvision", str(out), "--out", str(back)]) == 0
    again = torchvision.models.alexnet(weights=None)
    again.load_state_dict(torch.load(back, map_location="cpu", weights_only=True), strict=True)
    for k, v in tv.state_dict().items():
        assert torch.equal(again.state_dict()[k], v), k


@pytest.mark.slow
def test_convert_reads_the_legacy_format_of_torchvisions_2017_file(torchvision_checkpoint, tmp_path):
    """alexnet-owt-7be5be79.pth predates PyTorch's zip format: the same tensors in the old layout."""
    legacy = tmp_path / TORCHVISION_FILE
    state = torch.load(torchvision_checkpoint.path, map_location="cpu", weights_only=True)
    torch.save(state, legacy, _use_new_zipfile_serialization=False)
    assert legacy.read_bytes()[:2] == b"\x80\x02"      # a bare pickle stream, not a zip
    assert main(["convert", "torchvision", str(legacy), "--out", str(tmp_path / "owt.safetensors")]) == 0
    converted, meta = load_weights(tmp_path / "owt.safetensors")
    assert meta.source["sha256"] == file_sha256(legacy)
    for k, v in state.items():
        assert torch.equal(converted[k], v), k


def test_torchvision_shorthand_is_torch_hubs_cached_file(torchvision_checkpoint, tv, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("TORCH_HOME", str(torchvision_checkpoint.torch_home))
    assert resolve_weights_path(TORCHVISION_TAG) == torchvision_checkpoint.path
    assert torchvision_cache_path() == Path(torch.hub.get_dir()) / "checkpoints" / TORCHVISION_FILE
    assert main(["predict", TORCHVISION_TAG, *map(str, photos()), "--device", "cpu", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    names = imagenet_class_names()
    want_idx, want_p = top5(torchvision_probs(tv, rgb_photos()))
    for row, idx, p in zip(result["results"], want_idx, want_p.tolist()):
        assert [t["class"] for t in row["top"]] == [names[i] for i in idx]
        assert [t["probability"] for t in row["top"]] == pytest.approx(p, abs=PROB_ATOL)
    # torch.hub's defaults when TORCH_HOME is not set: $XDG_CACHE_HOME/torch, then ~/.cache/torch.
    monkeypatch.delenv("TORCH_HOME")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert torchvision_cache_path() == Path(torch.hub.get_dir()) / "checkpoints" / TORCHVISION_FILE
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert torchvision_cache_path() == tmp_path / "home" / ".cache" / "torch" / "hub" / "checkpoints" / TORCHVISION_FILE
    assert torchvision_cache_path() == Path(torch.hub.get_dir()) / "checkpoints" / TORCHVISION_FILE
    monkeypatch.setenv("TORCH_HOME", "~/th")       # torch.hub expands "~"; so does the shorthand
    assert torchvision_cache_path() == Path(torch.hub.get_dir()) / "checkpoints" / TORCHVISION_FILE


def test_a_missing_cached_file_offline_says_where_it_looked_and_how_to_download(tmp_path, monkeypatch, capsys):
    """Offline (ALEXNET_OFFLINE=1), nothing downloads; tests/test_download.py covers the download."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    monkeypatch.setenv("ALEXNET_OFFLINE", "1")

    def no_network(*args, **kwargs):
        raise AssertionError("nothing may download at run time")
    monkeypatch.setattr(socket.socket, "connect", no_network)
    (tmp_path / "a.jpg").write_bytes(photos()[0].read_bytes())
    for command in (["predict", TORCHVISION_TAG, str(tmp_path / "a.jpg"), "--device", "cpu"],
                    ["convert", "torchvision", TORCHVISION_TAG, "--out", str(tmp_path / "x.safetensors")],
                    ["features", TORCHVISION_TAG, str(tmp_path / "a.jpg"), "--out", str(tmp_path / "i.safetensors")]):
        assert main(command) == 2
        err = capsys.readouterr().err
        assert str(tmp_path / "empty" / "hub" / "checkpoints" / TORCHVISION_FILE) in err
        assert "downloads are off (ALEXNET_OFFLINE=1 or --offline)" in err
        assert "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth" in err
        assert "Traceback" not in err
    assert not (tmp_path / "empty").exists()
    with pytest.raises(ValueError, match="the one known tag is torchvision:IMAGENET1K_V1"):
        resolve_weights_path("torchvision:IMAGENET1K_V2")


# ------------------------------------------------------------------------------------------ bad files

class Payload:
    """Stands in for any class a malicious .pth could name; unpickling it would run __reduce__'s call."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def _bad_files(tmp_path: Path, good: Path) -> dict[str, tuple[Path, str]]:
    """name → (file, what the error must say)."""
    files = {}
    resnet = tmp_path / "resnet18.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), resnet)
    files["another network"] = (resnet, r"is a state dict of another network, not torchvision's AlexNet.*conv1\.weight")
    linear = tmp_path / "linear.pth"
    torch.save(torch.nn.Linear(4, 2).state_dict(), linear)
    files["a small nn.Linear"] = (linear, r"is a state dict of another network, not torchvision's AlexNet.*weight, bias")
    code = tmp_path / "code.pth"
    torch.save({"features.0.weight": torch.zeros(1), "x": Payload(str(tmp_path / "PWNED"))}, code)
    files["pickled code"] = (code, r"holds pickled Python objects \((posix|nt)\.mkdir\).*refused rather than unpickled"
                                   r".*Expected a state dict of tensors")
    obj = tmp_path / "object.pth"
    torch.save({"model": torch.nn.Linear(2, 2)}, obj)      # a whole module, as torch.save(model) writes
    files["a pickled module"] = (obj, r"holds pickled Python objects \(torch\.nn\.modules\.linear\.Linear\)")
    data = good.read_bytes()
    cut = tmp_path / "truncated.pth"
    cut.write_bytes(data[:len(data) // 3])
    files["truncated (zip format)"] = (cut, rf"is truncated or damaged \({len(data) // 3} bytes\).*is 244 MB")
    legacy = tmp_path / "legacy.pth"
    torch.save(torch.nn.Linear(64, 64).state_dict(), legacy, _use_new_zipfile_serialization=False)
    cut_legacy = tmp_path / "truncated-legacy.pth"
    cut_legacy.write_bytes(legacy.read_bytes()[:700])
    files["truncated (torchvision's 2017 legacy format)"] = (cut_legacy, r"is truncated or damaged \(700 bytes\)")
    empty = tmp_path / "empty.pth"
    empty.write_bytes(b"")
    files["empty"] = (empty, r"is truncated or damaged \(0 bytes\)")
    text = tmp_path / "notes.pth"
    text.write_text("not a checkpoint")
    files["not a PyTorch file"] = (text, r"is not a PyTorch file \(it starts with b'not a ch'.*expected a state "
                                         r"dict of tensors")
    return files


def test_bad_files_get_errors_naming_the_file_what_it_is_and_what_was_expected(torchvision_checkpoint, tmp_path,
                                                                               capsys):
    for what, (path, message) in _bad_files(tmp_path, torchvision_checkpoint.path).items():
        for command in (["convert", "torchvision", str(path), "--out", str(tmp_path / "o.safetensors")],
                        ["predict", str(path), str(photos()[0]), "--device", "cpu"]):
            assert main(command) == 2, (what, command[0])
            err = capsys.readouterr().err
            assert err.count("\n") == 1 and "Traceback" not in err, (what, err)   # one line, no traceback
            assert re.search(re.escape(str(path)) + " " + message, err), (what, err)
    assert not (tmp_path / "PWNED").exists()           # the payload never ran
    assert not (tmp_path / "o.safetensors").exists()


@pytest.mark.parametrize("zip_format", [True, False])
def test_a_pth_cut_short_anywhere_is_reported_as_truncated(tmp_path, zip_format):
    """Wherever a download stops, in the zip format or in the leading pickles of the legacy one
    (torchvision's file), the error is the truncation one, not torch's internals."""
    whole = tmp_path / "whole.pth"
    torch.save(torch.nn.Linear(8, 8).state_dict(), whole, _use_new_zipfile_serialization=zip_format)
    data, cut = whole.read_bytes(), tmp_path / "cut.pth"
    for n in range(len(data)):
        cut.write_bytes(data[:n])
        with pytest.raises(ValueError, match=rf"cut\.pth is truncated or damaged \({n} bytes\)"):
            load_torchvision_state_dict(cut)


# ------------------------------------------------------------------------ features, retrieve, visualize

def test_features_are_torchvisions_fc7_and_each_photo_retrieves_itself(torchvision_checkpoint, tv, tmp_path, capsys):
    weights, index = str(torchvision_checkpoint.path), tmp_path / "photos.fc7.safetensors"
    assert main(["features", weights, str(photos()[0].parent), "--out", str(index), "--device", "cpu"]) == 0
    loaded = FeatureIndex.load(index)
    assert loaded.paths == [str(p) for p in photos()] and loaded.features.shape == (len(photos()), 4096)
    transform = torchvision_transform()
    with torch.inference_mode():   # torchvision's fc7: classifier up to the second ReLU (dropout off)
        x = torch.stack([transform(im) for im in rgb_photos()])
        fc7 = tv.classifier[:6](torch.flatten(tv.avgpool(tv.features(x)), 1))
    # fc7 values are ~0.01; kernel summation order moves them by ~1e-9.
    torch.testing.assert_close(loaded.features, fc7, rtol=1e-4, atol=1e-6)
    capsys.readouterr()
    assert main(["retrieve", weights, *map(str, photos()), "--index", str(index), "--k", "3", "--json",
                 "--device", "cpu", "--png", str(tmp_path / "retrieval.png")]) == 0
    rows = json.loads(capsys.readouterr().out)["results"]
    for row in rows:
        first = row["neighbours"][0]
        assert first["path"] == row["query"] and first["distance"] < 1e-3
        assert row["neighbours"][1]["distance"] > 100 * first["distance"] + 1e-3
    assert Image.open(tmp_path / "retrieval.png").size == (4 * 160, len(photos()) * 180)


def test_visualize_filters_draws_the_64_conv1_kernels_in_colour(torchvision_checkpoint, tmp_path):
    png = tmp_path / "filters.png"
    assert main(["visualize", "filters", str(torchvision_checkpoint.path), "--png", str(png)]) == 0
    pixels = np.asarray(Image.open(png).convert("RGB")).astype(int)
    assert pixels.shape == (200, 800, 3)        # one panel: 64 kernels of one tower
    spread = pixels.max(-1) - pixels.min(-1)    # grey pixels have R = G = B
    assert (spread > 60).mean() > 0.1


def test_visualize_activations_are_torchvisions_conv_maps(torchvision_checkpoint, tv, predictor, tmp_path):
    photo = photos()[0]
    with torch.inference_mode():   # conv1 + ReLU of torchvision's model on torchvision's input
        want = tv.features[:2](torchvision_transform()(Image.open(photo).convert("RGB"))[None])[0]
    # equal here; rtol 1e-4 leaves room for CPUs whose conv kernels take other paths (~1e-4 on an AMD EPYC)
    torch.testing.assert_close(predictor.conv_maps(photo, "conv1"), want, rtol=1e-4, atol=1e-5)
    assert main(["visualize", "activations", str(torchvision_checkpoint.path), str(photo), "--layer", "conv2",
                 "--png", str(tmp_path / "conv2.png"), "--device", "cpu"]) == 0
    assert Image.open(tmp_path / "conv2.png").size == (800, 800)
    assert main(["visualize", "predictions", str(torchvision_checkpoint.path), *map(str, photos()[:3]),
                 "--png", str(tmp_path / "top5.png"), "--device", "cpu"]) == 0
    assert Image.open(tmp_path / "top5.png").size == (3 * 250, 500)


# --------------------------------------------------------------------------------------------- export

@pytest.mark.slow
def test_exported_onnx_and_torchscript_match_torchvision_on_photos(torchvision_checkpoint, tv, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    weights = str(torchvision_checkpoint.path)
    transform = torchvision_transform()
    x = torch.stack([transform(im) for im in rgb_photos()])
    expected = torchvision_probs(tv, rgb_photos())
    assert main(["export", weights, "--format", "onnx", "--out", str(tmp_path / "alexnet.onnx")]) == 0
    session = ort.InferenceSession(str(tmp_path / "alexnet.onnx"), providers=["CPUExecutionProvider"])
    onnx_logits = torch.from_numpy(session.run(None, {session.get_inputs()[0].name: x.numpy()})[0])
    assert main(["export", weights, "--format", "torchscript", "--out", str(tmp_path / "alexnet.pt")]) == 0
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)   # torch.jit is deprecated but still ships
        script_logits = torch.jit.load(str(tmp_path / "alexnet.pt"))(x)
    # onnxruntime's own conv/gemm kernels sum in another order: the fixture's large logits (~±40
    # before fc8's bias) differ by ~1e-4, so its probabilities by ~1e-4 too; 1e-3 leaves room.
    for logits, atol in ((onnx_logits, 1e-3), (script_logits, PROB_ATOL)):
        probs = logits.softmax(1)
        assert top5(probs)[0] == top5(expected)[0]
        torch.testing.assert_close(probs, expected, rtol=0, atol=atol)


# ------------------------------------------------------------------------------------------- finetune

@pytest.mark.slow
def test_finetune_replaces_fc8_and_freezes_or_trains_the_conv_layers(torchvision_checkpoint, tv, tmp_path,
                                                                     monkeypatch):
    monkeypatch.setenv("ALEXNET_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "photos"
    for name, cls in (("astronaut", "space"), ("rocket", "space"), ("hubble", "space"),
                      ("chelsea", "earth"), ("coffee", "earth")):
        (folder / cls).mkdir(parents=True, exist_ok=True)
        shutil.copy(photos()[0].parent / f"{name}.jpg", folder / cls)
    common = ["--epochs", "1", "--batch-size", "5", "--workers", "0", "--device", "cpu"]
    original = tv.state_dict()
    for freeze in (True, False):
        out = tmp_path / ("frozen" if freeze else "all")
        assert main(["finetune", str(torchvision_checkpoint.path), str(folder), "--out", str(out), *common,
                     *(["--freeze", "features"] if freeze else [])]) == 0
        state, meta = load_weights(out / "model.safetensors")
        assert meta.arch == "alexnet_owt" and meta.class_names == ["earth", "space"]
        assert state["classifier.6.weight"].shape == (2, 4096)
        assert meta.preprocessing["mean"] == TORCHVISION_PREPROCESSING["mean"]
        assert meta.config["augment"] == "torchvision" and meta.config["freeze"] == ("features" if freeze else None)
        for k, v in original.items():
            if k.startswith("features."):     # frozen: bit-identical; trained: moved by the step
                assert torch.equal(state[k], v) == freeze, (freeze, k)
            elif not k.startswith("classifier.6."):
                assert not torch.equal(state[k], v), (freeze, k)
    # Weights trained here go back to torchvision's format and predict there as here.
    assert main(["convert", "to-torchvision", str(out / "model.safetensors"), "--out", str(tmp_path / "ft.pth")]) == 0
    back = torchvision_reference(tmp_path / "ft.pth")
    torch.testing.assert_close(Predictor(out / "model.safetensors", device="cpu").probabilities(photos()),
                               torchvision_probs(back, rgb_photos()), rtol=0, atol=PROB_ATOL)
    # And such a torchvision file comes in again with its class count read from fc8 (names: numbers).
    assert main(["convert", "torchvision", str(tmp_path / "ft.pth"), "--out", str(tmp_path / "ft.safetensors")]) == 0
    _, meta = load_weights(tmp_path / "ft.safetensors")
    assert meta.model_kwargs["num_classes"] == 2 and meta.class_names == ["0", "1"]


# ---------------------------------------------------------------------- evaluate on a prepared store

def ilsvrc_wnids() -> list[str]:
    """1000 WordNet ids shaped like ILSVRC-2012's (its first and last, made-up ones between)."""
    middle = sorted({f"n0{1500000 + 13 * k:07d}" for k in range(998)})
    return ["n01440764", *middle, "n15075141"]


def test_a_prepared_store_holds_torchvisions_resize_then_crop_up_to_subpixel_shifts_and_jpeg():
    """``alexnet prepare`` stores the central square resized to 256 (Pillow bilinear, one step);
    torchvision resizes the shorter side to 256 and crops the centre. The same region of the photo,
    and identical pixels when both crops fall on whole pixels (square photos, 360×240 here; not
    375×250, whose central square starts half a pixel in); otherwise torchvision truncates the long
    side and rounds its crop offset, and prepare floors the square's offset, moving pixels by under
    one. JPEG q90 adds its own error on top (measured in the evaluate test below)."""
    square = Preprocessing.from_dict({**TORCHVISION_PREPROCESSING, "source_resize": "square"})
    shorter = Preprocessing.from_dict(TORCHVISION_PREPROCESSING)
    coffee = Image.open(photos()[0].parent / "coffee.jpg").convert("RGB")
    cases = [(p.name, im) for p, im in zip(photos(), rgb_photos())] + [("coffee 375×250", coffee.resize((375, 250)))]
    kinds = set()
    for name, image in cases:
        stored, tv = pil_to_stored([image], square).float(), pil_to_stored([image], shorter).float()
        long, short = max(image.size), min(image.size)
        whole = 256 * long % short == 0 and (256 * long // short - 256) % 2 == 0 and (long - short) % 2 == 0
        kinds.add(whole)
        if whole:
            assert torch.equal(stored, tv), name
        else:   # measured: mean 0.2 (rocket) – 3.2 (chelsea) grey levels, most of it at edges
            assert 0 < (stored - tv).abs().mean() < 5, name
    assert kinds == {True, False}


@pytest.mark.slow
def test_evaluate_on_a_prepared_ilsvrc_store_scores_the_stored_images(torchvision_checkpoint, tv, tmp_path, capsys):
    """A val/<wnid>/ tree of the photos, each filed under torchvision's top-1 for it: evaluate's top-1
    error is then exactly the share of photos whose stored 256² JPEG changes the top-1."""
    images = rgb_photos()
    expected = torchvision_probs(tv, images)
    labels = expected.argmax(1).tolist()
    wnids = ilsvrc_wnids()
    src = tmp_path / "ILSVRC2012"
    for wnid in wnids:
        (src / "val" / wnid).mkdir(parents=True)
    for path, label in zip(photos(), labels):
        shutil.copy(path, src / "val" / wnids[label] / f"{path.stem}.JPEG")
    store = tmp_path / "store"
    assert main(["prepare", str(src), str(store), "--split", "val", "--workers", "1", "--no-progress"]) == 0
    capsys.readouterr()
    results = {}
    for views in (1, 10):
        assert main(["evaluate", str(torchvision_checkpoint.path), "--data", str(store), "--split", "val",
                     "--views", str(views), "--device", "cpu", "--workers", "0",
                     "--out", str(tmp_path / f"eval{views}"), "--json"]) == 0
        results[views] = json.loads(capsys.readouterr().out)
        assert results[views]["num_images"] == len(images) and results[views]["num_classes"] == 1000

    # The same, by hand: the stored images through torchvision's preprocessing (1 and 10 views).
    split = PreparedStore(store, "val")
    row = {Path(s).stem: i for i, s in enumerate(split.sources())}
    stored = torch.stack([torch.from_numpy(split.decode(row[p.stem]).copy()).permute(2, 0, 1) for p in photos()])
    pre = Preprocessing.from_dict(TORCHVISION_PREPROCESSING)
    x_stored = make_view_fn(pre)(stored)[0]
    with torch.inference_mode():
        from_store = tv(x_stored).softmax(1)
        ten = make_view_fn(pre, views=10)(stored)
        from_store_10 = tv(ten.flatten(0, 1)).softmax(1).view(10, len(images), -1).mean(0)
    # k of the photos (approx: float32 vs float64); evaluate batches them otherwise, but no photo's top two
    # classes are within 0.008 of each other, far above batch-size-dependent kernel noise (~1e-4)
    agree = (from_store.argmax(1) == expected.argmax(1)).float()
    assert results[1]["top1_error"] == pytest.approx(1 - agree.mean().item())
    agree_10 = (from_store_10.argmax(1) == expected.argmax(1)).float()
    assert results[10]["top1_error"] == pytest.approx(1 - agree_10.mean().item())

    # How far the stored JPEGs are from torchvision's input, in grey levels of the 224² crop: measured
    # mean |difference| 1.0–4.0 per photo (JPEG q90 ≈ 1.0–2.5 of it, the sub-pixel geometry the rest),
    # and a max of ~60 at sharp edges. On this deliberately hypersensitive net (a 1-px shift moves
    # top-5 probabilities by 0.9) the stored path keeps the top-1 of 2 photos of 5; it says nothing
    # about real ImageNet weights, which are far smoother.
    transform = torchvision_transform()
    x_tv = torch.stack([transform(im) for im in images])
    std = torch.tensor(TORCHVISION_PREPROCESSING["std"]).view(3, 1, 1)
    levels = ((x_stored - x_tv) * std * 255).abs()
    per_photo = levels.flatten(1).mean(1)
    assert float(per_photo.max()) < 6 and float(per_photo.min()) > 0.2, per_photo
    print(f"stored vs torchvision: mean |Δ| {per_photo.numpy().round(2)} grey levels, max {float(levels.max()):.0f}; "
          f"top-1 kept {int(agree.sum())}/{len(images)}; max |Δp| {float((from_store - expected).abs().max()):.3f}")


# ----------------------------------------------------------------------------------------------- README

def _section(markdown: str, heading: str) -> str:
    start = markdown.index(heading + "\n")
    rest = markdown[start + len(heading) + 1:]
    end = re.search(r"^## ", rest, flags=re.M)
    return rest[:end.start()] if end else rest


def test_readme_shows_torchvision_weights_first_and_its_python_runs(torchvision_checkpoint, tv, tmp_path,
                                                                     monkeypatch, capsys):
    text = README.read_text(encoding="utf-8")
    heading = "## Use ImageNet weights you already have"
    assert text.index(heading) < text.index("## Installing")
    assert re.findall(r"^## ", text[:text.index(heading)], flags=re.M) == []     # the first section
    section = _section(text, heading)
    assert DOWNLOAD_LINE in section and "$TORCH_HOME/hub/checkpoints/alexnet-owt-7be5be79.pth" in section
    for command in ("predict", "features", "retrieve", "visualize filters", "evaluate", "finetune", "export",
                    "convert torchvision", "convert to-torchvision"):
        assert f"alexnet {command} " in section, command
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert blocks and 'Predictor("torchvision:IMAGENET1K_V1")' in blocks[0]
    monkeypatch.setenv("TORCH_HOME", str(torchvision_checkpoint.torch_home))
    monkeypatch.chdir(tmp_path)
    shutil.copy(photos()[1], tmp_path / "photo.jpg")
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, "<README torchvision section>", "exec"), namespace)
    # (On a GPU machine the Predictor runs on CUDA: compare the top-1 only, not close runners-up.)
    want = torchvision_probs(tv, [Image.open(tmp_path / "photo.jpg").convert("RGB")]).argmax(1).item()
    assert len(namespace["top5"][0]) == 5 and namespace["top5"][0][0][0] == imagenet_class_names()[want]
    assert namespace["fc7"].shape == (1, 4096)
