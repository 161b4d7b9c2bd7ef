"""Numbers every part of the package shares, written once.

- :data:`IMAGENET_MEAN` / :data:`IMAGENET_STD`: torchvision's per-channel ImageNet statistics of
  pixels in [0, 1] (its recipe and its released weights normalise with them).
- :data:`LUMA`: ITU-R 601 weights that turn RGB into grey, as Pillow's ``convert("L")`` does.
- :data:`SPEC_IMAGENET_PCA`: the well-known RGB PCA of ImageNet pixels in [0, 1]
  (fb.resnet.torch; SPEC §2), for reference and comparison: training uses the values
  ``alexnet prepare`` computes from the data at hand.
"""

from __future__ import annotations

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
LUMA = (0.299, 0.587, 0.114)

SPEC_IMAGENET_PCA = {
    "eigval": (0.2175, 0.0188, 0.0045),
    "eigvec": ((-0.5675, 0.7192, 0.4009),
               (-0.5808, -0.0045, -0.8140),
               (-0.5836, -0.6948, 0.4203)),
}


def imagenet_class_names() -> list[str] | None:
    """ImageNet's 1000 human class names in class-index order (= sorted WordNet ids), offline:
    the table torchvision ships with its weights; None for a torchvision without it."""
    try:
        from torchvision.models._meta import _IMAGENET_CATEGORIES
    except ImportError:
        return None
    return list(_IMAGENET_CATEGORIES) if len(_IMAGENET_CATEGORIES) == 1000 else None
