"""Weights files carry their model, class names and preprocessing; nothing is unpickled."""

import argparse

import pytest
import torch

from alexnet import models
from alexnet.weights import load_weights, save_weights
from torchvision_fixtures import torchvision_reference


def test_safetensors_round_trip_rebuilds_the_same_model(tmp_path):
    torch.manual_seed(0)
    net = models.alexnet2012(num_classes=3, in_channels=1, input_size=67, lrn_alpha="cuda-convnet").eval()
    mean_image = torch.rand(1, 73, 73) * 255
    path = save_weights(tmp_path / "model.safetensors", net, class_names=["a", "b", "c"],
                        preprocessing={"resize": 73, "crop": 67, "channels": 1, "mean_image": True},
                        metrics={"top1_error": 0.5}, extra_tensors={"mean_image": mean_image})
    again = models.alexnet2012(weights=path).eval()
    x = torch.randn(2, 1, 67, 67)
    with torch.no_grad():   # the same weights, bit for bit, through the same kernels
        torch.testing.assert_close(again(x), net(x), rtol=0, atol=0)
    assert again.weights_meta.class_names == ["a", "b", "c"]
    assert again.model_kwargs == {"in_channels": 1, "input_size": 67, "lrn_alpha": "cuda-convnet"}
    torch.testing.assert_close(again.weights_meta.mean_image, mean_image, rtol=0, atol=0)   # float32 round trip
    assert models.load(path).arch == "alexnet2012"


def test_torchvision_pth_loads_into_owt_without_unpickling(torchvision_checkpoint):
    tv = torchvision_reference(torchvision_checkpoint.path)     # torchvision.models.alexnet, strictly loaded
    ours = models.alexnet_owt(weights=torchvision_checkpoint.path).eval()
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), tv(x), rtol=0, atol=0)


def test_a_pickled_object_is_refused(tmp_path):
    # Any class outside PyTorch's allow-list would run code on unpickling; Namespace stands in for one.
    torch.save({"w": argparse.Namespace(x=1)}, tmp_path / "evil.pth")
    with pytest.raises(ValueError, match=r"evil.pth holds pickled Python objects.*argparse.Namespace.*refused"):
        models.alexnet_owt(weights=tmp_path / "evil.pth")


def test_missing_wrong_and_damaged_weights_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        models.alexnet2012(weights=tmp_path / "nope.safetensors")
    net = models.alexnet2012(num_classes=2, input_size=67)
    path = save_weights(tmp_path / "m.safetensors", net)
    with pytest.raises(ValueError, match="'alexnet2012' weights, not 'alexnet_owt'"):
        models.alexnet_owt(weights=path)
    (tmp_path / "broken.safetensors").write_bytes(path.read_bytes()[:100])
    with pytest.raises(ValueError, match="not a readable safetensors"):
        load_weights(tmp_path / "broken.safetensors")
    with pytest.raises(ValueError, match="class names"):
        save_weights(tmp_path / "x.safetensors", net, class_names=["only one"])


def test_a_state_dict_that_only_looks_like_alexnets_is_refused_with_what_is_wrong(tmp_path):
    # VGG's keys share AlexNet's first and last names (features.0, classifier.6) but not the rest
    state = {"features.0.weight": torch.zeros(64, 3, 3, 3), "features.0.bias": torch.zeros(64),
             "features.2.weight": torch.zeros(64, 64, 3, 3), "features.2.bias": torch.zeros(64),
             "classifier.6.weight": torch.zeros(10, 4096), "classifier.6.bias": torch.zeros(10)}
    path = tmp_path / "vgg-like.pth"
    torch.save(state, path)
    with pytest.raises(ValueError) as e:
        models.load(path)
    text = str(e.value)
    assert str(path) in text and "another network" in text and "unexpected keys ['features.2.bias'" in text
