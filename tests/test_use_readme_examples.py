'''The README's "## Python API" examples run as written.

The examples read ``runs/demo/model.safetensors`` and ``shoe.png``/``boot.png``; the test makes
small stand-ins for them in a temporary directory.
'''

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from alexnet.models import alexnet2012
from alexnet.weights import save_weights

README = Path(__file__).resolve().parents[1] / "README.md"
HEADING = "## Python API"


def python_blocks(markdown: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", markdown, flags=re.S)


def section(markdown: str, heading: str) -> str | None:
    start = markdown.find(heading + "\n")
    if start < 0:
        return None
    rest = markdown[start + len(heading) + 1:]
    end = re.search(r"^## ", rest, flags=re.M)
    return rest[:end.start()] if end else rest


@pytest.fixture
def demo_dir(tmp_path, monkeypatch):
    torch.manual_seed(0)
    model = alexnet2012(num_classes=10, in_channels=1, input_size=67)
    names = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
             "Ankle boot"]
    pre = {"resize": 73, "crop": 67, "channels": 1, "pixel_scale": 255.0, "mean": None, "std": None,
           "mean_image": True}
    save_weights(tmp_path / "runs" / "demo" / "model.safetensors", model, class_names=names,
                 preprocessing=pre, extra_tensors={"mean_image": torch.full((1, 73, 73), 72.0)})
    rng = np.random.default_rng(0)
    for name in ("shoe.png", "boot.png"):
        Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8)).save(tmp_path / name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run_blocks(blocks: list[str]) -> dict:
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, "<README Python API>", "exec"), namespace)
    return namespace


def test_readme_python_api_examples_run(demo_dir):
    text = section(README.read_text(encoding="utf-8"), HEADING)
    assert text is not None, f"README.md has no {HEADING!r} section"
    blocks = python_blocks(text)
    assert len(blocks) == 4
    ns = run_blocks(blocks)
    assert len(ns["top5"][0]) == 5 and ns["fc7"].shape == (2, 4096)
    for name in ("filters.png", "top5.png", "alexnet.pt", "shoes.fc7.safetensors"):
        assert (demo_dir / name).stat().st_size > 0
