"""Markers: ``slow`` (left out of a plain ``pytest``; ``bash scripts/test.sh`` and CI run everything)
and ``cuda`` (needs a GPU: skipped without one; ``benchmarks/gpu_check.py`` runs ``pytest -m cuda``).
Fixtures shared by several modules: ``torchvision_checkpoint`` (tests/torchvision_fixtures.py)."""

import pytest
import torch

from torchvision_fixtures import torchvision_checkpoint  # noqa: F401  (a session fixture, written once)


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA (benchmarks/gpu_check.py runs these on a GPU)")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)
