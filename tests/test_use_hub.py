"""hubconf.py: torch.hub.load from a local checkout builds the nets and loads our weights."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch

from alexnet.models import alexnet2012
from alexnet.weights import save_weights

REPO = Path(__file__).resolve().parents[1]


def test_hub_lists_and_loads(tmp_path):
    spec = importlib.util.spec_from_file_location("hubconf_under_test", REPO / "hubconf.py")
    hubconf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hubconf)
    assert hubconf.dependencies == ["torch"] and callable(hubconf.alexnet2012) and callable(hubconf.alexnet_owt)
    torch.manual_seed(0)
    model = alexnet2012(num_classes=3, input_size=67)
    save_weights(tmp_path / "model.safetensors", model, preprocessing={"crop": 67})
    hub_model = torch.hub.load(str(REPO), "alexnet2012", source="local", weights=tmp_path / "model.safetensors")
    assert hub_model.num_classes == 3 and hub_model.input_size == 67
    x = torch.randn(2, 3, 67, 67)
    with torch.inference_mode():
        assert torch.equal(hub_model.eval()(x), model.eval()(x))
    fresh = torch.hub.load(str(REPO), "alexnet_owt", source="local", num_classes=7)
    assert fresh.num_classes == 7
