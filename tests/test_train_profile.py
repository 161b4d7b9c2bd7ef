"""alexnet.train.profile: a training step's time per layer, forward and backward, without counting any of
it twice (benchmarks/roofline.py's breakdown)."""

import pytest
import torch

from alexnet.models import alexnet2012
from alexnet.train.loop import train_step
from alexnet.train.profile import profiled_input, step_breakdown

LAYERS = ("conv1", "norm1", "pool1", "conv2", "norm2", "pool2", "conv3", "conv4", "conv5", "pool5", "fc6", "fc7", "fc8")


def test_step_breakdown_names_every_layer_and_counts_nothing_twice():
    torch.manual_seed(0)
    model = alexnet2012(num_classes=10, in_channels=1, input_size=64)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    images, labels = torch.rand(2, 1, 64, 64), torch.tensor([3, 7])
    transform = profiled_input(lambda x, generator=None: x * 2 - 1)
    b = step_breakdown(model, lambda: train_step(model, images, labels, optimizer, transform), steps=1)
    parts = b["parts"]
    for layer in LAYERS:   # each layer ran forward and backward (conv1: its weight gradient)
        assert parts[layer]["forward_ms"] > 0 and parts[layer]["backward_ms"] > 0, (layer, parts[layer])
        assert parts[layer]["ms"] == pytest.approx(parts[layer]["forward_ms"] + parts[layer]["backward_ms"])
    assert parts["input"]["ms"] > 0 and parts["optimizer"]["ms"] > 0 and parts["loss"]["backward_ms"] > 0
    # the parts are disjoint ranges inside the profiled step: what is left over is never negative
    # (the profiler's microsecond clock: 1e-6 of a step is rounding)
    assert parts["other"]["ms"] >= -1e-6 * b["step_ms"], parts["other"]
    assert sum(p["ms"] for p in parts.values()) == pytest.approx(b["step_ms"], rel=1e-9)
    # the model is as it was: no hook left behind
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())
