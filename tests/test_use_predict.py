"""alexnet.use: opening images, Predictor, `alexnet predict`, torchvision weights."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image, features as pil_features

from alexnet.cli.main import main
from alexnet.models import alexnet2012, alexnet_owt
from alexnet.use import ImageReadError, Predictor, find_images, open_image
from alexnet.weights import save_weights
from torchvision_fixtures import torchvision_reference

SMALL_PRE = {"resize": 73, "crop": 67, "channels": 3, "pixel_scale": 255.0, "mean": None, "std": None,
             "mean_image": True}


def small_weights(path, channels=3, num_classes=5, seed=0):
    torch.manual_seed(seed)
    model = alexnet2012(num_classes=num_classes, in_channels=channels, input_size=67)
    mean = torch.rand(channels, 73, 73) * 255
    names = [f"class{i}" for i in range(num_classes)]
    save_weights(path, model, class_names=names, preprocessing={**SMALL_PRE, "channels": channels},
                 extra_tensors={"mean_image": mean})
    return path


def picture(w=96, h=80, seed=0) -> Image.Image:
    """An asymmetric colour picture: gradients plus noise, so rotations change the prediction."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    arr = np.stack([x * 255 // w, y * 255 // h, (x * y) % 256], -1).astype(np.int16)
    arr += rng.integers(-30, 30, arr.shape)
    return Image.fromarray(arr.clip(0, 255).astype(np.uint8))


@pytest.fixture
def weights(tmp_path):
    return small_weights(tmp_path / "model.safetensors")


def test_open_image_converts_every_common_mode(tmp_path):
    base = picture()
    files = {"rgb.jpg": base, "grey.png": base.convert("L"), "rgba.png": base.convert("RGBA"),
             "cmyk.jpg": base.convert("CMYK"), "pal.bmp": base.convert("P"), "tiny.ppm": base}
    if pil_features.check("webp"):
        files["pic.webp"] = base
    for name, im in files.items():
        im.save(tmp_path / name)
    for name in files:
        for channels, mode in ((3, "RGB"), (1, "L")):
            im = open_image(tmp_path / name, channels)
            assert im.mode == mode and im.size == base.size, name


def test_gif_first_frame_and_transparent_pixels(tmp_path):
    red, blue = Image.new("RGB", (20, 20), (255, 0, 0)), Image.new("RGB", (20, 20), (0, 0, 255))
    red.save(tmp_path / "anim.gif", save_all=True, append_images=[blue], duration=100)
    assert open_image(tmp_path / "anim.gif").getpixel((5, 5))[0] > 200
    # transparency is dropped as torchvision's users drop it (Image.open(p).convert("RGB")): the colour
    # stored under the transparent pixel stays
    clear = Image.new("RGBA", (8, 8), (10, 200, 30, 0))
    clear.save(tmp_path / "clear.png")
    assert open_image(tmp_path / "clear.png").getpixel((3, 3)) == (10, 200, 30)
    assert open_image(tmp_path / "clear.png").getpixel((3, 3)) == Image.open(tmp_path / "clear.png").convert("RGB").getpixel((3, 3))


def test_unreadable_files_raise_with_reason(tmp_path):
    (tmp_path / "noise.jpg").write_bytes(b"\x00\x01 not an image" * 10)
    buf = tmp_path / "full.jpg"
    picture(200, 200).save(buf, quality=95)
    (tmp_path / "cut.jpg").write_bytes(buf.read_bytes()[:600])
    for name, word in (("noise.jpg", "not an image"), ("cut.jpg", "decoded"), ("gone.png", "no such file")):
        with pytest.raises(ImageReadError, match=word) as info:
            open_image(tmp_path / name)
        assert info.value.path.endswith(name)


def test_find_images_walks_directories(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    for p in ("a/1.JPG", "a/b/2.png", "a/notes.txt", "a/.hidden/3.png"):
        (tmp_path / p).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / p).write_bytes(b"x")
    found = find_images([tmp_path / "a"])
    assert [p.relative_to(tmp_path).as_posix() for p in found] == ["a/1.JPG", "a/b/2.png"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no image files"):
        find_images([tmp_path / "empty"])


def test_predict_returns_sorted_topk_probabilities(weights):
    predictor = Predictor(weights, device="cpu", batch_size=2)
    images = [picture(seed=i) for i in range(3)]
    tops = predictor.predict(images, topk=3)
    assert len(tops) == 3 and all(len(t) == 3 for t in tops)
    for top in tops:
        probs = [p for _, p in top]
        assert probs == sorted(probs, reverse=True) and all(0 <= p <= 1 for p in probs)
        assert {c for c, _ in top} <= set(predictor.class_names)
    full = predictor.probabilities(images)    # float32 softmax: each row sums to 1 within ~1e-7
    assert full.shape == (3, 5) and torch.allclose(full.sum(1), torch.ones(3), atol=1e-5)
    # batching changes nothing but rounding: image 0, batched with image 1 above, alone here. CPU
    # convolution kernels differ with the batch size (~1e-4 on activations on an AMD EPYC; 1.5e-7 on
    # these probabilities here), while the three pictures' probabilities lie ~2e-3 apart
    assert torch.allclose(predictor.probabilities(images[0]), full[:1], atol=1e-4, rtol=0)
    ten = predictor.probabilities(images, views=10)
    assert ten.shape == (3, 5) and torch.allclose(ten.sum(1), torch.ones(3), atol=1e-5)
    assert not torch.allclose(ten, full)      # 10 views move them by ~5e-3, allclose allows ~1e-5


def test_predict_matches_the_model_on_the_preprocessed_batch(weights):
    predictor = Predictor(weights, device="cpu")
    im = picture()
    x = predictor.preprocess([im])
    assert x.shape == (1, 3, 67, 67)
    with torch.inference_mode():
        expected = predictor.model(x).softmax(-1)[0]
    top = predictor.predict(im, topk=5)[0]
    assert [c for c, _ in top] == [predictor.class_names[i] for i in expected.argsort(descending=True)]
    # the same batch of one through the same model: float32 rounding at most
    assert np.allclose([p for _, p in top], expected.sort(descending=True).values.numpy(), atol=1e-6)


def test_exif_rotation_is_honoured(weights, tmp_path):
    raw = picture(120, 70, seed=3)
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: the stored pixels must be turned 90° clockwise to display
    raw.save(tmp_path / "tagged.jpg", exif=exif, quality=95)
    with Image.open(tmp_path / "tagged.jpg") as f:
        decoded = f.convert("RGB")  # the stored pixels, orientation ignored
    decoded.transpose(Image.Transpose.ROTATE_270).save(tmp_path / "upright.png")
    decoded.save(tmp_path / "ignored.png")
    predictor = Predictor(weights, device="cpu")
    assert open_image(tmp_path / "tagged.jpg").size == (70, 120)
    p_tagged, p_upright, p_ignored = (predictor.probabilities(tmp_path / n)
                                      for n in ("tagged.jpg", "upright.png", "ignored.png"))
    assert torch.allclose(p_tagged, p_upright, atol=1e-6)        # the same pixels: identical here
    assert not torch.allclose(p_tagged, p_ignored, atol=1e-4)    # the unturned picture: ~1e-2 apart
    # a PIL image carrying the tag is turned too
    with Image.open(tmp_path / "tagged.jpg") as f:
        assert torch.allclose(predictor.probabilities(f), p_upright, atol=1e-6)


def test_grey_weights_convert_images_to_grey(tmp_path):
    predictor = Predictor(small_weights(tmp_path / "grey.safetensors", channels=1), device="cpu")
    colour = picture()
    assert predictor.preprocess([colour]).shape == (1, 1, 67, 67)
    # the same grey pixels either way (identical here); allclose's default rtol 1e-5 on probabilities ~0.2
    assert torch.allclose(predictor.probabilities(colour), predictor.probabilities(colour.convert("L")))


def test_cli_predict_reports_bad_files_and_predicts_the_rest(weights, tmp_path, capsys):
    images = tmp_path / "imgs"
    (images / "sub").mkdir(parents=True)
    picture(seed=1).save(images / "one.png")
    picture(seed=2).save(images / "sub" / "two.jpg")
    (images / "sub" / "broken.jpg").write_bytes(b"garbage" * 20)
    code = main(["predict", str(weights), str(images), "--topk", "2", "--json", "--batch-size", "2",
                 "--device", "cpu"])
    out, err = capsys.readouterr()
    assert code == 0
    doc = json.loads(out)
    assert doc["predicted"] == 2 and doc["failed"] == 1
    by_name = {r["path"].split("/")[-1]: r for r in doc["results"]}
    assert "not an image" in by_name["broken.jpg"]["error"] and "broken.jpg" in err
    assert len(by_name["one.png"]["top"]) == 2
    expected = Predictor(weights, device="cpu").predict(images / "one.png", topk=2)[0]
    # batches of up to 2 there, 1 here: batch-size-dependent CPU kernels, as in test_predict_returns_sorted_topk
    assert [(t["class"], pytest.approx(t["probability"], abs=1e-4)) for t in by_name["one.png"]["top"]] == \
        [(c, pytest.approx(p, abs=1e-4)) for c, p in expected]

    code = main(["predict", str(weights), str(images / "one.png"), "--views", "10", "--device", "cpu"])
    out, _ = capsys.readouterr()
    assert code == 0 and out.count("class") == 5

    code = main(["predict", str(weights), str(images / "sub" / "broken.jpg"), str(tmp_path / "missing.png")])
    _, err = capsys.readouterr()
    assert code == 1 and "none of the 2 images" in err and "no such file" in err


def test_cli_predict_clear_error_for_bad_weights(tmp_path, capsys):
    picture().save(tmp_path / "a.png")
    (tmp_path / "bad.safetensors").write_bytes(b"nope")
    assert main(["predict", str(tmp_path / "bad.safetensors"), str(tmp_path / "a.png")]) == 2
    assert "not a readable safetensors file" in capsys.readouterr().err


def test_torchvision_checkpoint_loads_into_alexnet_owt(torchvision_checkpoint):
    reference = torchvision_reference(torchvision_checkpoint.path)
    model = alexnet_owt(weights=torchvision_checkpoint.path).eval()
    x = torch.randn(2, 3, 224, 224)
    with torch.inference_mode():
        assert torch.equal(model(x), reference(x))
    predictor = Predictor(torchvision_checkpoint.path, device="cpu")
    assert predictor.preprocessing["mean"] == [0.485, 0.456, 0.406] and len(predictor.class_names) == 1000
    assert predictor.features(picture()).shape == (1, 4096)


def test_full_size_paper_net_predicts(tmp_path):
    torch.manual_seed(0)
    model = alexnet2012()
    pre = {"resize": 256, "crop": 224, "channels": 3, "pixel_scale": 255.0, "mean": None, "std": None,
           "mean_image": True}
    save_weights(tmp_path / "model.safetensors", model, preprocessing=pre,
                 extra_tensors={"mean_image": torch.full((3, 256, 256), 128.0)})
    predictor = Predictor(tmp_path / "model.safetensors", device="cpu")
    top = predictor.predict(picture(300, 260), topk=5)[0]
    assert len(top) == 5 and {c for c, _ in top} <= {str(i) for i in range(1000)}


def test_predict_asks_the_precision_rule(tmp_path):
    """float32 by default; amp="bf16" runs the net under bf16 autocast (so the probabilities move, a
    little: bf16 keeps 8 bits of mantissa, ~4e-3 relative per product, here ≤ 2e-2 on probabilities)."""
    weights = small_weights(tmp_path / "w.safetensors")
    images = [picture(seed=s) for s in range(3)]
    full = Predictor(weights, device="cpu").probabilities(images)
    half = Predictor(weights, device="cpu", amp="bf16")
    assert half.precision.name == "bf16 autocast" and Predictor(weights, device="cpu").precision.name == "float32"
    low = half.probabilities(images)
    assert not torch.equal(low, full)
    torch.testing.assert_close(low, full, atol=2e-2, rtol=0)
