"""Markers: ``slow`` (left out of a plain ``pytest``; ``bash scripts/test.sh`` and CI run everything)
and ``cuda`` (needs a GPU: skipped without one; ``benchmarks/gpu_check.py`` runs ``pytest -m cuda``)."""

import pytest
import torch


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA (benchmarks/gpu_check.py runs these on a GPU)")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)
