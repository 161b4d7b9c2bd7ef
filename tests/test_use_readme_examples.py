'''The README's "## Python API" examples run as written.

The section's markdown is kept here (PYTHON_API) so the examples run even before the README
carries them; once README.md has the heading, its python blocks must equal these and are run too.
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

PYTHON_API = """
## Python API

Every use needs only the weights file: it carries the class names, the input size and the
preprocessing (`alexnet.use.Predictor` applies them; images may be PIL images or paths).

```python
from PIL import Image
from alexnet.use import Predictor

predictor = Predictor("runs/demo/model.safetensors")        # device: CUDA when available
top5 = predictor.predict(Image.open("shoe.png"), topk=5)    # one list per image
for name, probability in top5[0]:
    print(f"{probability:.3f}  {name}")
ten_view = predictor.predict(["shoe.png", "boot.png"], views=10)   # the paper's 10-view test
```

The paper's retrieval vector is fc7, the 4096-d output of the last hidden layer after its ReLU
(`layer="fc6"` and `layer="pool5"` are there too):

```python
import torch

fc7 = predictor.features(["shoe.png", "boot.png"])          # (2, 4096) float32, CPU
batch = predictor.preprocess([Image.open("shoe.png")])      # the float batch the net takes
model = predictor.model                                     # eval mode
with torch.inference_mode():
    same = model.forward_head(model.forward_features(batch), pre_logits=True)
assert torch.allclose(fc7[:1], same, atol=1e-5)
```

Nearest neighbours by Euclidean distance, exact (torch, or faiss's `IndexFlatL2` for large
indexes when installed):

```python
from alexnet.use import FeatureIndex

index = FeatureIndex(fc7, ["shoe.png", "boot.png"])
distances, neighbours = index.search(predictor.features("shoe.png"), k=2)
assert index.paths[neighbours[0, 0]] == "shoe.png"          # itself, at distance 0
index.save("shoes.fc7.safetensors")                          # what `alexnet features` writes
```

Pictures and export:

```python
from alexnet.use.export import export_model
from alexnet.use.visualize import filters_figure, predictions_figure

filters_figure(predictor.model, "filters.png")                       # conv1 kernels, per tower
predictions_figure(predictor, ["shoe.png", "boot.png"], "top5.png")  # images + top-5 bars
report = export_model("runs/demo/model.safetensors", "torchscript", "alexnet.pt")
print(report["max_abs_diff"])                                        # vs PyTorch, random batch
```
"""


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


def test_python_api_examples_run(demo_dir):
    blocks = python_blocks(PYTHON_API)
    assert len(blocks) == 4
    ns = run_blocks(blocks)
    assert len(ns["top5"][0]) == 5 and ns["fc7"].shape == (2, 4096)
    for name in ("filters.png", "top5.png", "alexnet.pt", "shoes.fc7.safetensors"):
        assert (demo_dir / name).stat().st_size > 0


def test_readme_python_api_matches_and_runs(demo_dir):
    if not README.is_file() or section(README.read_text(encoding="utf-8"), HEADING) is None:
        pytest.skip(f"README.md has no {HEADING!r} section yet")
    blocks = python_blocks(section(README.read_text(encoding="utf-8"), HEADING))
    assert blocks == python_blocks(PYTHON_API), "README's Python API examples differ from PYTHON_API here"
    run_blocks(blocks)
