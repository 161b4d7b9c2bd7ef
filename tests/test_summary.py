"""`alexnet summary`: the totals, the receptive field arithmetic (SPEC §6) and the paper's 253,440."""

import json

import pytest
import torch

from alexnet.cli.main import main
from alexnet.models import alexnet2012
from alexnet.models.summary import format_table, step_flops, summarize


@pytest.mark.parametrize("size", [224, 227])
def test_alexnet2012_totals_at_224_and_227(size):
    totals = summarize("alexnet2012", input_size=size)["totals"]
    assert totals == {"params": 60_965_224, "macs": 724_406_816, "neurons": 659_272}


def test_owt_totals():
    totals = summarize("alexnet_owt")["totals"]
    assert totals["params"] == 61_100_840 and totals["macs"] == 714_188_480


def test_step_flops_counts_the_forward_both_gradients_and_grouped_convolutions_per_group():
    # at 64 px, 1 channel, 10 classes: output maps × output side² × inputs per output; conv1's maps are
    # 15² (cuda-convnet's ceil rule), then 7², 3², 1² after each pooling; conv2, conv4 and conv5 see one
    # tower's maps. A step: the forward, the weight gradients, the input gradients of every layer but
    # conv1 (its input needs none); 2 FLOPs per MAC. torch's own counter would count conv2's, conv4's and
    # conv5's weight gradients twice.
    macs = {"conv1": 96 * 15**2 * 11 * 11, "conv2": 256 * 7**2 * 5 * 5 * 48, "conv3": 384 * 3**2 * 3 * 3 * 256,
            "conv4": 384 * 3**2 * 3 * 3 * 192, "conv5": 256 * 3**2 * 3 * 3 * 192, "fc6": 256 * 4096,
            "fc7": 4096 * 4096, "fc8": 4096 * 10}
    model = alexnet2012(num_classes=10, in_channels=1, input_size=64)
    assert step_flops(model, torch.randn(2, 1, 64, 64), torch.tensor([3, 7])) == 2 * 2 * (
        3 * sum(macs.values()) - macs["conv1"])
    assert all(p.grad is None for p in model.parameters())


def test_per_layer_macs_and_neurons_match_the_spec_table():
    rows = {r["name"].split(".")[-1]: r for r in summarize("alexnet2012")["layers"]}
    assert [rows[f"conv{i}"]["macs"] for i in range(1, 6)] == [
        105_415_200, 223_948_800, 149_520_384, 112_140_288, 74_760_192]
    assert [rows[n]["neurons"] for n in ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8")] == [
        290_400, 186_624, 64_896, 64_896, 43_264, 4096, 4096, 1000]
    assert rows["fc6"]["macs"] + rows["fc7"]["macs"] + rows["fc8"]["macs"] == 58_621_952


def test_receptive_fields_follow_the_seed_arithmetic():
    rows = {r["name"].split(".")[-1]: r for r in summarize("alexnet2012")["layers"]}
    # conv1: r = 1 + 10·1 = 11, j = 4, start = 0.5 + (5 − 0)·1 = 5.5 (right/bottom padding only)
    assert (rows["conv1"]["receptive_field"], rows["conv1"]["jump"], rows["conv1"]["start"]) == (11, 4, 5.5)
    # pool1: r = 11 + 2·4 = 19, j = 8, start = 5.5 + 1·4 = 9.5
    assert (rows["pool1"]["receptive_field"], rows["pool1"]["jump"], rows["pool1"]["start"]) == (19, 8, 9.5)
    # conv2 (k5 p2): r = 19 + 4·8 = 51, start unchanged
    assert (rows["conv2"]["receptive_field"], rows["conv2"]["start"]) == (51, 9.5)
    assert (rows["pool5"]["receptive_field"], rows["pool5"]["jump"], rows["pool5"]["start"]) == (195, 32, 33.5)
    assert rows["fc6"]["receptive_field"] is None


def test_summary_points_out_the_papers_253440():
    s = summarize("alexnet2012")
    assert s["paper"]["neurons_conv1_stated"] == 253_440
    text = format_table(s)
    assert "253,440" in text and "290,400" in text and "not a square" in text


def test_cli_json_and_table(capsys):
    assert main(["summary", "--arch", "alexnet2012", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["totals"] == {"params": 60_965_224, "macs": 724_406_816, "neurons": 659_272}
    assert main(["summary"]) == 0
    table = capsys.readouterr().out
    assert "features.conv1" in table and "60,965,224" in table and "253,440" in table


def test_cli_grey_ten_class_and_too_small_input(capsys):
    assert main(["summary", "--input-size", "67", "--in-channels", "1", "--num-classes", "10", "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["layers"][-1]["output_shape"] == [10]
    assert main(["summary", "--input-size", "30"]) == 2
    assert "too small" in capsys.readouterr().err
