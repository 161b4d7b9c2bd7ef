"""Faults and bad input at the command line (docs/FAULTS.md): each a one-line error, never a
traceback, and paths as the user means them."""

import pytest

from alexnet.cli.main import main as cli


def test_tilde_in_equals_form_is_the_home_directory(tmp_path, monkeypatch):
    # `--out=~/x` reaches argparse unexpanded (the shell expands ~ only at a word's start)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)
    from alexnet.cli.args import expand_user_paths
    from alexnet.cli.main import build_parser
    args = build_parser().parse_args(["train", "--out=~/runs/x", "--data=~/data", "--resume=~/r"])
    expand_user_paths(args)
    assert args.out == str(home / "runs" / "x") and args.data == str(home / "data")
    assert args.resume == str(home / "r")
    args = build_parser().parse_args(["predict", "w.safetensors", "~/a.jpg", "b.jpg"])
    expand_user_paths(args)
    assert args.images == [str(home / "a.jpg"), "b.jpg"]


def test_tilde_out_creates_no_literal_tilde_folder(tmp_path, monkeypatch, capsys):
    from data_fixtures import jpeg_bytes, picture
    home = tmp_path / "home"
    for c in ("a", "b"):
        (home / "src" / c).mkdir(parents=True)
        for i in range(2):
            (home / "src" / c / f"{i}.jpg").write_bytes(jpeg_bytes(picture(40, 30, i)))
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)
    assert cli(["prepare", "~/src", "~/store", "--split", "train"]) == 0
    assert (home / "store" / "classes.json").is_file()
    assert not (tmp_path / "~").exists()
    assert cli(["train", "--data=~/missing", "--out=~/runs/x"]) == 2
    err = capsys.readouterr().err
    assert str(home / "missing") in err and not (tmp_path / "~").exists()


@pytest.fixture()
def small_net(tmp_path):
    from test_use_predict import small_weights
    return small_weights(tmp_path / "w" / "model.safetensors")


@pytest.mark.parametrize("name", ["tpu", "cuda:x", "meta"])
def test_unknown_device_is_one_line(name, tmp_path, small_net, capsys, monkeypatch):
    monkeypatch.setenv("ALEXNET_CACHE", str(tmp_path / "cache"))
    from train_fixtures import write_fashion_idx
    fm = write_fashion_idx(tmp_path / "fm")
    photo = "tests/photos/coffee.jpg"
    for argv in (["train", "--data", str(fm), "--device", name, "--out", str(tmp_path / "r")],
                 ["predict", str(small_net), photo, "--device", name],
                 ["evaluate", str(small_net), "--data", str(fm), "--device", name]):
        assert cli(argv) == 2, argv
        err = capsys.readouterr().err
        assert "Traceback" not in err and f"device {name!r}" in err and "--device cpu" in err, err


def test_prepare_a_single_photo_is_one_line(tmp_path, capsys):
    assert cli(["prepare", "tests/photos/coffee.jpg", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "coffee.jpg" in err and "not a tar" in err and "alexnet predict" in err


def hold_lock(directory):
    """Another process holding ``directory``'s lock (as a running command would); kill it after."""
    import subprocess
    import sys
    code = ("import sys, time; from alexnet.lock import exclusive\n"
            "with exclusive(sys.argv[1], 'test'):\n    print('held', flush=True); time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(directory)], stdout=subprocess.PIPE, text=True,
                            env={**__import__("os").environ, "PYTHONPATH": "src"})
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_two_prepares_into_one_out_name_the_other_process(tmp_path, capsys):
    from data_fixtures import jpeg_bytes, picture
    for c in ("a", "b"):
        (tmp_path / "src" / c).mkdir(parents=True)
        (tmp_path / "src" / c / "0.jpg").write_bytes(jpeg_bytes(picture(40, 30, 0)))
    other = hold_lock(tmp_path / "out")
    try:
        assert cli(["prepare", str(tmp_path / "src"), str(tmp_path / "out")]) == 2
    finally:
        other.kill()
        other.wait()
    err = capsys.readouterr().err
    assert f"pid {other.pid}" in err and ".tmp" not in err and "Traceback" not in err
    assert cli(["prepare", str(tmp_path / "src"), str(tmp_path / "out")]) == 0   # the lock dies with its holder


def test_onnx_export_carries_its_mean_image(tmp_path):
    import base64
    import json

    import numpy as np
    import torch
    onnx = pytest.importorskip("onnx")
    from alexnet.models import alexnet2012
    from alexnet.use.export import export_model
    from alexnet.weights import save_weights
    mean = torch.arange(73 * 73, dtype=torch.float32).reshape(1, 73, 73) / 40
    save_weights(tmp_path / "m.safetensors", alexnet2012(num_classes=2, in_channels=1, input_size=67),
                 class_names=["a", "b"], preprocessing={"resize": 73, "crop": 67, "channels": 1, "pixel_scale": 255.0,
                                                        "mean": None, "std": None, "mean_image": True},
                 extra_tensors={"mean_image": mean})
    export_model(tmp_path / "m.safetensors", "onnx", tmp_path / "m.onnx", check=False)
    props = {p.key: p.value for p in onnx.load(str(tmp_path / "m.onnx")).metadata_props}
    stored = json.loads(props["mean_image"])
    got = np.frombuffer(base64.b64decode(stored["base64"]), dtype="<f4").reshape(stored["shape"])
    assert np.array_equal(got, mean.numpy())


def test_outputs_that_name_a_directory_or_a_file_are_one_line(tmp_path, small_net, capsys, monkeypatch):
    monkeypatch.setenv("ALEXNET_CACHE", str(tmp_path / "cache"))
    (tmp_path / "adir").mkdir()
    (tmp_path / "afile").write_text("x")
    photos = "tests/photos"
    for argv, words in ((["features", str(small_net), photos, "--out", str(tmp_path / "adir")], "is a directory"),
                        (["export", str(small_net), "--format", "torchscript", "--out", str(tmp_path / "adir")],
                         "is a directory"),
                        (["features", str(small_net), photos, "--out", str(tmp_path / "afile" / "x.safetensors")],
                         "is a file"),
                        (["train", "--dataset", "fashion-mnist", "--out", str(tmp_path / "afile")], "is a file")):
        assert cli(argv) == 2, argv
        err = capsys.readouterr().err
        assert "Traceback" not in err and words in err, err


def test_prepare_into_a_folder_inside_its_source_leaves_the_store_out(tmp_path, capsys):
    from data_fixtures import jpeg_bytes, picture
    for c in ("a", "b"):
        (tmp_path / "src" / c).mkdir(parents=True)
        (tmp_path / "src" / c / "0.jpg").write_bytes(jpeg_bytes(picture(40, 30, 0)))
    for _ in range(2):      # the second run finds the store inside SRC: not a class, nothing to do
        assert cli(["prepare", str(tmp_path / "src"), str(tmp_path / "src" / "out"), "--split", "train"]) == 0
    err = capsys.readouterr().err
    assert "nothing to do" in err and "error" not in err
    import json
    assert json.loads((tmp_path / "src" / "out" / "classes.json").read_text())["wnids"] == ["a", "b"]


@pytest.mark.parametrize("command", ["train", "finetune"])
def test_train_and_finetune_spell_resume_the_same_way(command, tmp_path):
    """--resume RUN_DIR, --resume alone (the --out directory) and --resume auto, for both commands."""
    from alexnet.cli.main import build_parser
    from alexnet.cli.train import _resume_dir
    out = tmp_path / "run"
    parse = build_parser().parse_args
    assert _resume_dir(parse([command, "--resume", str(tmp_path / "other"), "--out", str(out)]), command) == \
        str(tmp_path / "other")
    assert _resume_dir(parse([command, "--resume", "--out", str(out)]), command) == str(out)
    assert _resume_dir(parse([command, "--out", str(out)]), command) is None
    assert _resume_dir(parse([command, "--resume", "auto", "--out", str(out)]), command) is None   # nothing there
    out.mkdir()
    (out / "config.json").write_text("{}")
    (out / "checkpoint.pt").write_bytes(b"")
    assert _resume_dir(parse([command, "--resume", "auto", "--out", str(out)]), command) == str(out)
