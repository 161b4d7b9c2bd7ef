"""`alexnet export`: ONNX and TorchScript files whose outputs equal PyTorch's."""

from __future__ import annotations

import json
import warnings

import pytest
import torch

from alexnet.cli.main import main
from alexnet.models import alexnet2012
from alexnet.use import Predictor
from alexnet.use import export as export_mod
from alexnet.weights import save_weights

PRE = {"resize": 73, "crop": 67, "channels": 1, "pixel_scale": 255.0, "mean": None, "std": None,
       "mean_image": True}


@pytest.fixture
def weights(tmp_path):
    torch.manual_seed(0)
    model = alexnet2012(num_classes=3, in_channels=1, input_size=67)
    path = tmp_path / "model.safetensors"
    save_weights(path, model, class_names=["x", "y", "z"], preprocessing=PRE,
                 extra_tensors={"mean_image": torch.full((1, 73, 73), 100.0)})
    return path


def reference(weights, x):
    model = Predictor(weights, device="cpu").model
    with torch.inference_mode():
        return model(x)


def test_onnx_round_trip(weights, tmp_path, capsys):
    ort = pytest.importorskip("onnxruntime")
    onnx = pytest.importorskip("onnx")
    out = tmp_path / "net.onnx"
    assert main(["export", str(weights), "--format", "onnx", "--out", str(out)]) == 0
    assert "outputs match PyTorch" in capsys.readouterr().out
    # another batch size than the export's example (the batch axis is free); tens of levels, as the
    # mean-subtracted pixels are, so that the logits (~1) differ between images by ~0.03
    x = torch.randn(3, 1, 67, 67, generator=torch.Generator().manual_seed(0)) * 60
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    (got,) = session.run(["logits"], {"images": x.numpy()})
    expected = reference(weights, x)
    assert (expected[0] - expected[1:]).abs().max() > 0.01
    # onnxruntime's float32 kernels against PyTorch's: 7e-7 here, up to ~1e-4 where the CPU's kernels
    # take other paths (as batch sizes do on an AMD EPYC); 5e-4 is still 20× below the images' spread
    assert torch.allclose(torch.from_numpy(got), expected, atol=5e-4, rtol=0)
    props = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert json.loads(props["class_names"]) == ["x", "y", "z"] and json.loads(props["preprocessing"])["crop"] == 67


def test_torchscript_round_trip(weights, tmp_path):
    out = tmp_path / "net.pt"
    report = export_mod.export_model(weights, "torchscript", out)
    assert report["max_abs_diff"] <= 1e-4 and report["input_shape"] == ["N", 1, 67, 67]   # export's own check
    extra = {"alexnet.json": ""}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated but still ships
        loaded = torch.jit.load(str(out), _extra_files=extra)
    x = torch.randn(2, 1, 67, 67, generator=torch.Generator().manual_seed(1)) * 60
    # TorchScript runs PyTorch's own kernels on the same batch: bit-identical here; 1e-5 leaves room for
    # a fusing JIT, far below the logits' ~0.03 spread between images
    assert torch.allclose(loaded(x), reference(weights, x), atol=1e-5, rtol=0)
    assert json.loads(extra["alexnet.json"])["arch"] == "alexnet2012"


def test_onnx_without_onnxruntime_fails_unless_no_check(weights, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(export_mod, "onnxruntime_available", lambda: False)
    out = tmp_path / "net.onnx"
    assert main(["export", str(weights), "--format", "onnx", "--out", str(out)]) == 2
    assert "onnxruntime is not installed" in capsys.readouterr().err
    assert main(["export", str(weights), "--format", "onnx", "--out", str(out), "--no-check"]) == 0
    assert "NOT checked" in capsys.readouterr().out and out.stat().st_size > 0


def test_export_detects_a_mismatch(weights, tmp_path, monkeypatch):
    real = export_mod._run_torchscript
    monkeypatch.setattr(export_mod, "_run_torchscript", lambda path, x: (real(path, x)[0] + 1.0, "tampered"))
    with pytest.raises(ValueError, match="differs from PyTorch"):
        export_mod.export_model(weights, "torchscript", tmp_path / "net.pt")
