"""The one precision rule (alexnet.device.resolve_precision) and the places that obey it."""

import pytest
import torch
from torch import nn

from alexnet.device import Precision, cpu_has_native_bf16, resolve_precision
from alexnet.evaluate.run import batch_log_probs


@pytest.mark.parametrize("device, amp, channels_last, expected", [
    ("cpu", "auto", "auto", Precision(None, False)),
    ("cuda", "auto", "auto", Precision(torch.bfloat16, True)),
    ("cuda", "off", False, Precision(None, False)),           # the config says no: no channels-last on CUDA
    ("cpu", "bf16", True, Precision(torch.bfloat16, True)),
    ("cpu", True, "auto", Precision(torch.bfloat16, False)),  # evaluate_weights(bf16=True)
    ("cuda", False, "auto", Precision(None, True)),
    ("meta", None, "auto", Precision(None, False)),
])
def test_the_rule(device, amp, channels_last, expected):
    assert resolve_precision(device, amp, channels_last) == expected


def test_unknown_amp_is_an_error():
    with pytest.raises(ValueError, match="amp='fp8'"):
        resolve_precision("cpu", "fp8")


@pytest.mark.parametrize("native", [True, False])
def test_evaluation_and_inference_stay_float32_on_any_cpu(monkeypatch, native):
    """Only training's "auto" follows the CPU's bf16 (tests/test_fast_path.py); evaluation, predict
    and the benchmarks keep float32 on a CPU unless asked."""
    import alexnet.device as device
    monkeypatch.setattr(device, "cpu_has_native_bf16", lambda: native)
    assert resolve_precision("cpu", "auto") == Precision(None, False)


def test_torchs_bf16_probe_agrees_with_the_kernels_cpu_flags():
    """torch's private probes against what Linux reports of this CPU (AVX-512 BF16 or AMX tiles)."""
    try:
        flags = next(line for line in open("/proc/cpuinfo") if line.startswith("flags")).split()
    except (OSError, StopIteration):
        pytest.skip("no /proc/cpuinfo")
    assert cpu_has_native_bf16() == ("avx512_bf16" in flags or "amx_tile" in flags)


@pytest.mark.parametrize("channels_last", [False, True])
def test_evaluation_uses_the_memory_format_it_is_given(channels_last):
    """evaluate/run.py used to force channels-last on CUDA whatever the config said."""
    seen = []
    conv = nn.Conv2d(3, 4, 3)
    conv.register_forward_pre_hook(lambda m, inp: seen.append(inp[0].is_contiguous(memory_format=torch.channels_last)
                                                               and not inp[0].is_contiguous()))
    net = nn.Sequential(conv, nn.Flatten(), nn.LazyLinear(5))
    images = torch.randint(0, 256, (2, 3, 8, 8), dtype=torch.uint8)
    view = lambda x: x.float()[None]  # noqa: E731  one view
    out = batch_log_probs([net], [view], images, torch.device("cpu"), Precision(None, channels_last))
    assert seen == [channels_last] and out.shape == (2, 5)
    assert Precision(torch.bfloat16).name == "bf16 autocast" and Precision().name == "float32"
