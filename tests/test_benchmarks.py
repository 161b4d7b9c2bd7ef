"""The benchmarks run end to end on tiny shapes (``--quick``, in a subprocess, as CI runs them), count
a training step's FLOPs as a hand count says, attribute the step's time to the layers without
counting any of it twice, measure the LRN's cost, and record where each result came from."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("conv1", "norm1", "pool1", "conv2", "norm2", "pool2", "conv3", "conv4", "conv5", "pool5", "fc6", "fc7", "fc8")
# alexnet2012's multiply-accumulates per image at the demo's input (64 px, 1 channel, 10 classes):
# output maps × output side² × inputs per output. conv1's maps are 15² (cuda-convnet's ceil rule),
# pool1 → 7², pool2 → 3², pool5 → 1²; conv2, conv4 and conv5 see one tower's 48 or 192 maps.
MACS = {"conv1": 96 * 15**2 * 11 * 11 * 1, "conv2": 256 * 7**2 * 5 * 5 * 48, "conv3": 384 * 3**2 * 3 * 3 * 256,
        "conv4": 384 * 3**2 * 3 * 3 * 192, "conv5": 256 * 3**2 * 3 * 3 * 192,
        "fc6": 256 * 4096, "fc7": 4096 * 4096, "fc8": 4096 * 10}


def run_script(name: str, *args: str, tmp: Path) -> dict:
    out = tmp / f"{name}.json"
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "ALEXNET_CACHE": str(tmp / "cache")}
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / f"{name}.py"), "--quick", "--out", str(out),
                           *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(out.read_text())


def assert_provenance(result: dict, script: str) -> None:
    p = result["provenance"]
    assert script in p["command"] and "--quick" in p["command"]
    assert len(p["commit"]) == 40 and isinstance(p["dirty"], bool)   # this test runs in the project's git tree
    assert p["cpu_model"] and p["cpu_count"] >= 1 and isinstance(p["cpu_flags"], list)
    assert p["versions"]["torch"] and p["date"].endswith("Z")
    assert len(result["load_average"]) == 3 and len(result["load_average_at_start"]) == 3


@pytest.fixture(scope="module")
def roofline(tmp_path_factory):
    return run_script("roofline", "--device", "cpu", "--threads", "1", tmp=tmp_path_factory.mktemp("roofline"))


@pytest.mark.slow   # ~40 s on two idle cores: 4 rows of the demo's step at batch 4, each profiled once
def test_roofline_counts_the_step_flops_the_hand_count_gives(roofline):
    # a step is the forward (M MACs), the weight gradients (M) and the input gradients of every layer
    # but conv1, whose input needs none; 2 FLOPs per MAC. torch's own counter counts grouped
    # convolutions' weight gradients twice; the benchmark's would then be 2 × 4 × 25,006,080 too high.
    batch, m = 4, sum(MACS.values())
    assert m == 53_449_056
    rows = roofline["rows"]
    assert {(r["precision"], r["memory_format"]) for r in rows} == {
        ("fp32", "contiguous"), ("fp32", "channels_last"), ("bf16", "contiguous"), ("bf16", "channels_last")}
    for r in rows:
        assert r["flops_per_step"] == 2 * batch * (3 * m - MACS["conv1"])
        assert r["setting"] == "demo" and r["batch_size"] == batch and r["loss_finite"] and not r["compile"]
        assert set(r["fraction_of_peak"]) == {"square", "fc6", "fc7"}
    peaks = roofline["peaks_tflops"]["alexnet2012 b4"]
    assert set(peaks) == {"fp32", "bf16"} and all(v > 0 for p in peaks.values() for v in p.values())
    assert_provenance(roofline, "roofline.py")


@pytest.mark.slow
def test_roofline_breakdown_names_every_layer_and_counts_nothing_twice(roofline):
    for r in roofline["rows"]:
        b = r["breakdown"]
        parts = b["parts"]
        for layer in LAYERS:   # each layer ran forward and backward (conv1: its weight gradient)
            assert parts[layer]["forward_ms"] > 0 and parts[layer]["backward_ms"] > 0, (layer, parts[layer])
        assert parts["input"]["ms"] > 0 and parts["optimizer"]["ms"] > 0 and parts["loss"]["backward_ms"] > 0
        # the parts are disjoint ranges inside the profiled step: what is left over is never negative
        # (the profiler's microsecond clock: 1e-6 of a step is rounding)
        assert parts["other"]["ms"] >= -1e-6 * b["step_ms"], parts["other"]
        assert sum(p["ms"] for p in parts.values()) == pytest.approx(b["step_ms"], rel=1e-9)  # float sums only


@pytest.mark.slow   # ~20 s: the LRN layer alone, ours and torch's, and four steps at batch 4
def test_roofline_lrn_measures_the_layer_and_the_step_with_and_without_it(tmp_path):
    result = run_script("roofline", "--lrn", "--device", "cpu", "--threads", "1", "--precisions", "fp32",
                        "--memory-formats", "contiguous", "--profile-steps", "0", tmp=tmp_path)
    steps = {r["variant"]: r for r in result["rows"]}
    assert list(steps) == ["default", "no_lrn", "torch_lrn", "unfused_sgd"] and len(result["rows"]) == 4
    assert [r["lrn"] for r in steps.values()] == [True, False, True, True]
    assert all(r["batch_size"] == 4 and r["input_size"] == 64 and r["images_per_s"] > 0 for r in steps.values())
    layer, = result["lrn"]["layer"]
    assert layer["shape"] == [4, 96, 15, 15] and layer["ours_seconds"] > 0 and layer["torch_seconds"] > 0
    ratios, = result["lrn"]["ratios"].values()
    assert set(ratios) == {"step_lrn_over_no_lrn", "step_torch_lrn_over_no_lrn", "step_fused_sgd_over_unfused"}
    assert all(v > 0 for v in ratios.values())
    assert_provenance(result, "roofline.py")


@pytest.mark.slow   # ~40 s: 12 JPEGs, prepare, each loader, two steps of the trainer, evaluation, the baseline
def test_pipeline_quick_run_measures_every_section(tmp_path):
    result = run_script("pipeline", "--device", "cpu", "--workers", "1", tmp=tmp_path)
    rows = result["rows"]
    assert {r["section"] for r in rows} == {"prepare", "loader", "end_to_end", "eval", "baseline"}
    assert all(r["images_per_s"] > 0 and r["seconds"] > 0 for r in rows)
    loader = {(r["decoder"], r["augment"]) for r in rows if r["section"] == "loader"}
    assert {("pil", False), ("pil", True)} <= loader
    e2e = next(r for r in rows if r["section"] == "end_to_end")
    # the trainer's amp=auto on this CPU (alexnet.device.choose_fast_path): bf16 where it is native
    from alexnet.device import cpu_has_native_bf16
    assert e2e["precision"] == ("bf16" if cpu_has_native_bf16() else "fp32") and e2e["decode_device"] == "cpu"
    assert e2e["fast_path"]["amp"] == ("bf16" if cpu_has_native_bf16() else "off") and e2e["fast_path"]["reason"]
    assert {r["views"] for r in rows if r["section"] == "eval"} == {1, 10}
    assert result["end_to_end_over_baseline"] > 0
    assert_provenance(result, "pipeline.py")
