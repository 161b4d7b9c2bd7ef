"""A torchvision-format AlexNet checkpoint and real photographs, shared by the tests of torchvision weights.

    def test_x(torchvision_checkpoint):                  # registered in conftest.py, written once a session
        torchvision_checkpoint.path                      # TORCH_HOME/hub/checkpoints/alexnet-owt-7be5be79.pth
        torchvision_checkpoint.torch_home                # monkeypatch.setenv("TORCH_HOME", ...) for the shorthand
    photos()                                             # tests/photos/*.jpg (see tests/photos/README.md)

The real ImageNet weights are never downloaded: the checkpoint is ``torchvision.models.alexnet``
with seeded random weights, saved as torchvision's file is (``torch.save(state_dict)``). A random
AlexNet's fc7 vectors of different photographs point almost the same way (cosine ≈ 0.9–0.98),
so its softmax is nearly flat and nearly the same for every image, and a preprocessing error
would hardly show. fc8 is therefore rebuilt: its bias removes the logits of the photographs'
mean fc7 vector, and its weights are scaled so that the softmax is peaky (top-1 probability
about 0.5–0.9 on the photographs). A wrong resize, crop, mean or pixel scale then moves the top-5
probabilities by tenths, not by thousandths.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import pytest
import torch

PHOTOS = Path(__file__).parent / "photos"
TORCHVISION_FILE = "alexnet-owt-7be5be79.pth"   # the name torch.hub caches torchvision's weights under
FC8_SCALE = 8000.0  # torchvision draws fc8 with std 0.01: this spreads the logits ≈ 6–13 → top-1 0.5–0.9


class TorchvisionCheckpoint(NamedTuple):
    path: Path          # torch_home / "hub" / "checkpoints" / TORCHVISION_FILE
    torch_home: Path


def photos() -> list[Path]:
    """The real photographs under tests/photos, sorted (square, landscape, portrait; see README.md)."""
    return sorted(PHOTOS.glob("*.jpg"))


def torchvision_transform():
    """torchvision's own evaluation pipeline for its ImageNet AlexNet weights."""
    from torchvision.models import AlexNet_Weights
    return AlexNet_Weights.IMAGENET1K_V1.transforms()


def torchvision_reference(path: str | Path) -> torch.nn.Module:
    """``torchvision.models.alexnet`` (eval mode) with the state dict of ``path`` loaded strictly."""
    import torchvision
    state = torch.load(path, map_location="cpu", weights_only=True)
    model = torchvision.models.alexnet(weights=None, num_classes=state["classifier.6.weight"].shape[0])
    model.load_state_dict(state, strict=True)
    return model.eval()


def peaky_alexnet_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    """A seeded random ``torchvision.models.alexnet`` state dict whose fc8 gives peaky,
    image-dependent softmaxes on the photographs (module docstring)."""
    import torchvision
    from PIL import Image

    torch.manual_seed(seed)
    model = torchvision.models.alexnet(weights=None).eval()
    transform = torchvision_transform()
    x = torch.stack([transform(Image.open(p).convert("RGB")) for p in photos()])
    with torch.no_grad():
        fc7 = model.classifier[:6](torch.flatten(model.avgpool(model.features(x)), 1))   # (N, 4096)
        fc8 = model.classifier[6]
        fc8.weight.mul_(FC8_SCALE)
        fc8.bias.copy_(-fc8.weight @ fc7.mean(0))
    return {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}


@pytest.fixture(scope="session")
def torchvision_checkpoint(tmp_path_factory) -> TorchvisionCheckpoint:
    """torchvision's file layout in a temporary TORCH_HOME, written once per session (244 MB)."""
    home = tmp_path_factory.mktemp("torch_home")
    path = home / "hub" / "checkpoints" / TORCHVISION_FILE
    path.parent.mkdir(parents=True)
    torch.save(peaky_alexnet_state_dict(), path)
    return TorchvisionCheckpoint(path=path, torch_home=home)
