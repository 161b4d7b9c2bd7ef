"""Small data for the training tests (imported by tests/test_train_*.py and tests/test_demo.py).

Synthetic Fashion-MNIST-format idx files (``alexnet.data.synthetic.write_fashion_idx``): 28×28 grey
images whose class is a bright horizontal band at a class-specific height, so a net can learn them in
a few steps.
"""

from __future__ import annotations

from pathlib import Path

from alexnet.data.synthetic import band_images, write_fashion_idx  # noqa: F401  (the package's, shared with benchmarks)


def tiny_config(data: Path, **overrides):
    """alexnet2012 at 64 px (its smallest input) on the synthetic data, SGD, flips, the CPU, float32
    (``amp="off"``: the tests' exact comparisons and tolerances are float32's on any CPU; "auto" would
    train in bf16 where the CPU has it: tests/test_fast_path.py)."""
    from alexnet.recipes import resolve_config
    base = {"data": str(data), "input_size": 64, "batch_size": 16, "epochs": 2, "log_interval": 2,
            "device": "cpu", "workers": 0, "optimizer": "sgd", "lr": 0.01, "augment": "flip", "amp": "off"}
    return resolve_config("d2l", {**base, **overrides}, arch="alexnet2012")
