"""Export a trained net to ONNX or TorchScript, checked against PyTorch before success is claimed.

    report = export_model("model.safetensors", "onnx", "alexnet.onnx")
    report["max_abs_diff"], report["checked_with"]       # e.g. 3e-06, "onnxruntime 1.20.1"

The exported graph is the eval-mode net (dropout off) taking a preprocessed float batch
``images`` (N, C, S, S) — S the weights' crop size, C their channels, N free — and returning
``logits`` (N, num_classes); softmax and preprocessing stay with the caller. The class names and
preprocessing dict ride along: as ONNX ``metadata_props`` (keys ``class_names``, ``preprocessing``,
``arch``, and ``mean_image`` when the preprocessing subtracts one: its (C, H, W) float32 values at the
stored size, base64 — ``np.frombuffer(base64.b64decode(m["base64"]), "<f4").reshape(m["shape"])``,
then crop it as the image is cropped) and as the TorchScript extra file ``alexnet.json``.

ONNX goes through PyTorch's TorchScript-based exporter (``dynamo=False``, opset
:data:`ONNX_OPSET`): it needs no extra package, where the default dynamo exporter of recent
PyTorch needs ``onnxscript``. The LRN layer's pad + shifted slices export as plain Pad/Slice/Add.
"""

from __future__ import annotations

import base64
import json
import os
import warnings
from pathlib import Path

import torch

from ..atomic import atomic_path
from .predict import Predictor

FORMATS = ("onnx", "torchscript")
ONNX_OPSET = 17
#: Exported outputs must match PyTorch's within this absolute tolerance, scaled by the logits' size.
ATOL = 1e-4
CHECK_BATCH = 2


def _metadata(predictor: Predictor) -> dict[str, str]:
    out = {"arch": getattr(predictor.model, "arch", type(predictor.model).__name__),
           "class_names": json.dumps(predictor.class_names),
           "preprocessing": json.dumps(predictor.preprocessing)}
    if predictor.mean_image is not None:   # preprocessing says mean_image: true, so the file must carry it
        mean = predictor.mean_image.detach().cpu().float().contiguous().numpy().astype("<f4")
        out["mean_image"] = json.dumps({"shape": list(mean.shape), "dtype": "float32 little-endian",
                                        "base64": base64.b64encode(mean.tobytes()).decode("ascii")})
    return out


def _export_onnx(model: torch.nn.Module, example: torch.Tensor, out: Path, metadata: dict[str, str]) -> None:
    import onnx
    with atomic_path(out) as tmp, warnings.catch_warnings():
        # The tracer warns about the shape checks of CeilPad2d/forward_head: they are constants
        # for the fixed crop size being exported, which is what we want.
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (example,), str(tmp), dynamo=False, opset_version=ONNX_OPSET,
                          input_names=["images"], output_names=["logits"],
                          dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}})
        proto = onnx.load(str(tmp))
        for key, value in metadata.items():
            proto.metadata_props.add(key=key, value=value)
        onnx.save(proto, str(tmp))


def _run_onnx(path: Path, x: torch.Tensor) -> tuple[torch.Tensor, str]:
    import onnxruntime
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (logits,) = session.run(["logits"], {"images": x.numpy()})
    return torch.from_numpy(logits), f"onnxruntime {onnxruntime.__version__}"


def _export_torchscript(model: torch.nn.Module, example: torch.Tensor, out: Path, metadata: dict[str, str]) -> None:
    with atomic_path(out) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # same tracer warnings as ONNX; jit's deprecation notice
        traced = torch.jit.trace(model, example)
        torch.jit.save(traced, str(tmp), _extra_files={"alexnet.json": json.dumps(metadata)})


def _run_torchscript(path: Path, x: torch.Tensor) -> tuple[torch.Tensor, str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = torch.jit.load(str(path), map_location="cpu")
        with torch.inference_mode():
            return loaded(x), f"torch.jit.load (torch {torch.__version__})"


def onnxruntime_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def export_model(weights: str | os.PathLike | torch.nn.Module, fmt: str, out: str | os.PathLike,
                 check: bool = True, seed: int = 0) -> dict:
    """Export ``weights`` (see :class:`Predictor`) as ``fmt`` ("onnx" or "torchscript") to ``out``.

    With ``check`` the file is loaded back (onnxruntime / torch.jit.load), fed a random batch of
    :data:`CHECK_BATCH` images and compared with the PyTorch model; a mismatch raises ValueError
    (the file is left for inspection). Without onnxruntime, ``check=True`` raises ValueError after
    writing the file. Returns a report dict: format, out, input_shape, exporter, checked_with,
    max_abs_diff.
    """
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    predictor = Predictor(weights, device="cpu")  # export and compare on the CPU: deterministic kernels
    model, metadata = predictor.model, _metadata(predictor)
    out = Path(out)
    shape = (predictor.channels, predictor.input_size, predictor.input_size)
    generator = torch.Generator().manual_seed(seed)
    example = torch.randn((1, *shape), generator=generator)
    report = {"format": fmt, "out": str(out), "input_shape": ["N", *shape], "checked_with": None,
              "max_abs_diff": None}
    if fmt == "onnx":
        _export_onnx(model, example, out, metadata)
        report["exporter"] = f"torch.onnx.export(dynamo=False, opset_version={ONNX_OPSET})"
    else:
        _export_torchscript(model, example, out, metadata)
        report["exporter"] = "torch.jit.trace"
    if not check:
        return report
    if fmt == "onnx" and not onnxruntime_available():
        raise ValueError(f"wrote {out} but could not check it: onnxruntime is not installed "
                         f"(pip install onnxruntime, or pass --no-check to accept it unchecked)")
    x = torch.randn((CHECK_BATCH, *shape), generator=generator)
    with torch.inference_mode():
        expected = model(x)
    got, report["checked_with"] = (_run_onnx if fmt == "onnx" else _run_torchscript)(out, x)
    if got.shape != expected.shape:
        raise ValueError(f"{out}: exported model returned shape {tuple(got.shape)}, PyTorch {tuple(expected.shape)}")
    diff = float((got - expected).abs().max())
    report["max_abs_diff"] = diff
    tolerance = ATOL * max(1.0, float(expected.abs().max()))
    if not diff <= tolerance:
        raise ValueError(f"{out}: exported model differs from PyTorch by {diff:.3g} (tolerance {tolerance:.3g}) "
                         f"on a random batch; the file was written but should not be used")
    return report
