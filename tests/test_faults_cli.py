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
