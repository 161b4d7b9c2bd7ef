"""The fast path of a training run (issue 24, item 3): ``amp``, ``compile`` and ``channels_last``
left at "auto" are chosen for the device and host by ``alexnet.device.choose_fast_path``, with their
reasons, and recorded where the run's results are. The host's bf16 probe is monkeypatched both ways,
so these hold on any CPU; a CUDA device is only named (no GPU needed: nothing runs on it)."""

import json

import pytest
import torch

import alexnet.device as device
from alexnet.config import Config
from alexnet.device import FastPath, Precision, choose_fast_path, fast_path_before_auto
from alexnet.train.checkpoint import load_checkpoint, save_checkpoint
from alexnet.train.log import LOG_NAME
from train_fixtures import tiny_config, write_fashion_idx


@pytest.fixture()
def native_bf16(monkeypatch):
    """Set whether this CPU "multiplies bf16 in hardware": ``native_bf16(True)``."""
    def set_(value: bool):
        monkeypatch.setattr(device, "cpu_has_native_bf16", lambda: value)
    return set_


def test_a_cpu_with_native_bf16_trains_in_bf16_autocast_eager_and_contiguous(native_bf16):
    native_bf16(True)
    fp = choose_fast_path("cpu")
    assert (fp.device, fp.amp, fp.compile, fp.channels_last) == ("cpu", "bf16", False, False)
    assert fp.precision == Precision(torch.bfloat16, False) and fp.describe() == "bf16 autocast, eager, contiguous"
    assert "multiplies bf16 in hardware" in fp.reason["amp"] and "cpu-step-2026-12-02.json" in fp.reason["amp"]
    # the compiled bf16 step was the slower one where it was measured
    assert "0.46× eager" in fp.reason["compile"] and "roofline-cpu-2026-12-05-compiled.json" in fp.reason["compile"]
    assert "channels-last slowed the bf16 step" in fp.reason["channels_last"]
    assert list(fp.cpu_flags) == device.cpu_flags()           # the host's flags, as provenance records them
    assert set(fp.cpu_flags) <= {"avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "avx512_fp16", "amx_tile",
                                 "amx_bf16", "amx_int8"}


def test_a_cpu_without_native_bf16_trains_in_float32(native_bf16):
    native_bf16(False)
    fp = choose_fast_path(torch.device("cpu"))
    assert (fp.amp, fp.compile, fp.channels_last) == ("off", False, False)
    assert fp.precision == Precision(None, False)
    assert "neither AVX-512 BF16 nor AMX" in fp.reason["amp"] and "emulate" in fp.reason["amp"]
    # compiled float32 was faster, but only after a compilation of minutes, and not measured on such a CPU
    assert "1.29× eager" in fp.reason["compile"] and "132 s" in fp.reason["compile"]
    assert "roofline-cpu-2026-12-04-compiled.json" in fp.reason["compile"]


@pytest.mark.parametrize("native", [True, False])
def test_cuda_and_mps_keep_todays_rule_whatever_the_cpu(native_bf16, native):
    native_bf16(native)
    cuda = choose_fast_path("cuda:1")                          # named only: nothing runs on it
    assert (cuda.device, cuda.amp, cuda.compile, cuda.channels_last) == ("cuda", "bf16", False, True)
    assert cuda.precision == Precision(torch.bfloat16, True)
    assert "--compile turns it on" in cuda.reason["compile"]
    mps = choose_fast_path("mps")
    assert (mps.amp, mps.compile, mps.channels_last) == ("off", False, False)


@pytest.mark.parametrize("native", [True, False])
@pytest.mark.parametrize("where", ["cpu", "cuda"])
def test_what_is_asked_for_always_wins(native_bf16, native, where):
    native_bf16(native)
    for amp, expected in (("off", "off"), (False, "off"), ("bf16", "bf16"), (True, "bf16")):
        fp = choose_fast_path(where, amp=amp)
        assert fp.amp == expected and fp.reason["amp"].startswith("asked for (amp=")
    fp = choose_fast_path(where, compile=True, channels_last=True)
    assert fp.compile and fp.channels_last and fp.reason["compile"] == "asked for (compile=true)"
    assert fp.reason["channels_last"] == "asked for (channels_last=true)"
    fp = choose_fast_path(where, compile=False, channels_last=False)
    assert not fp.compile and not fp.channels_last and fp.reason["compile"] == "asked for (compile=false)"


def test_unknown_settings_are_errors():
    with pytest.raises(ValueError, match="amp='fp8'"):
        choose_fast_path("cpu", amp="fp8")
    with pytest.raises(ValueError, match="compile='yes'"):
        choose_fast_path("cpu", compile="yes")


def test_a_resumed_run_keeps_the_choice_it_started_with(native_bf16):
    native_bf16(True)
    started = choose_fast_path("cpu").to_dict()
    assert started["precision"] == "bf16 autocast" and json.loads(json.dumps(started)) == started   # JSON-ready
    native_bf16(False)                                       # the same run dir, resumed on another CPU
    fp = choose_fast_path("cpu", kept=started)
    assert fp.amp == "bf16" and fp.reason["amp"].startswith("kept from the run's start")
    assert "multiplies bf16 in hardware" in fp.reason["amp"]
    again = choose_fast_path("cpu", kept=fp.to_dict())         # resumed twice: said once
    assert again.reason["amp"].count("kept from") == 1
    assert choose_fast_path("cpu", amp="off", kept=started).amp == "off"        # asked for still wins
    assert choose_fast_path("cuda", kept=started).amp == "bf16"                 # another device: chosen afresh
    assert choose_fast_path("cuda", kept=started).channels_last
    assert FastPath.from_dict(started).to_dict() == started                     # the record round-trips


def test_a_run_from_before_the_choice_resumes_under_the_rule_it_started_with(native_bf16):
    native_bf16(True)
    fp = choose_fast_path("cpu", kept=fast_path_before_auto("cpu"))
    assert (fp.amp, fp.compile, fp.channels_last) == ("off", False, False)      # float32, as it was trained
    assert "before the automatic fast path" in fp.reason["amp"]
    cuda = choose_fast_path("cuda", kept=fast_path_before_auto("cuda"))
    assert (cuda.amp, cuda.channels_last) == ("bf16", True)


# -------------------------------------------------------------------------------- the config and CLI

def test_config_compile_is_auto_by_default_and_takes_true_and_false():
    assert Config().compile == "auto" and Config().amp == "auto"
    assert Config(compile=True).compile is True and Config(compile=False).compile is False
    # an old config.json (compile: false, as every run before this wrote) still loads
    old = Config().to_dict() | {"compile": False}
    assert Config.from_dict(json.loads(json.dumps(old))).compile is False
    assert Config().updated({"compile": "auto"}).compile == "auto"
    with pytest.raises(ValueError, match="compile='yes' is not valid"):
        Config(compile="yes")


@pytest.mark.parametrize("argv, expected", [([], None), (["--compile"], True), (["--no-compile"], False),
                                            (["--set", "compile=auto"], "auto"), (["--set", "compile=true"], True)])
def test_the_compile_flags(argv, expected):
    from alexnet.cli.main import build_parser
    from alexnet.cli.train import _overrides
    overrides = _overrides(build_parser().parse_args(["train", *argv]))
    assert overrides.get("compile") == expected


# -------------------------------------------------------------------------------- a training run

def _events(run):
    return [json.loads(line) for line in (run / LOG_NAME).read_text().splitlines()]


@pytest.mark.slow   # ~8 s: three runs of a few steps
def test_train_records_its_fast_path_and_a_resume_keeps_it(tmp_path, monkeypatch, native_bf16, capsys):
    from alexnet.train.runner import run_training
    monkeypatch.setenv("ALEXNET_CACHE", str(tmp_path / "cache"))
    fm = write_fashion_idx(tmp_path / "fm")
    cfg = tiny_config(fm, epochs=2, max_steps_per_epoch=2, amp="auto")     # amp, compile, channels_last: auto
    assert (cfg.amp, cfg.compile, cfg.channels_last) == ("auto", "auto", "auto")

    native_bf16(True)

    def stop(trainer, step):
        if step == 3:
            trainer.request_stop("test")
    run = tmp_path / "run"
    part = run_training(cfg, run, on_step=stop)
    assert part["status"] == "interrupted"
    assert part["fast_path"]["amp"] == "bf16" and part["fast_path"]["precision"] == "bf16 autocast"
    start = next(e for e in _events(run) if e["event"] == "start")
    assert start["fast_path"] == part["fast_path"] and start["amp"] == "torch.bfloat16"
    assert set(start["fast_path"]["reason"]) == {"amp", "compile", "channels_last"}
    assert "multiplies bf16 in hardware" in start["fast_path"]["reason"]["amp"]
    assert start["fast_path"]["cpu_flags"] == device.cpu_flags()
    # the log is a result file: its start event says where it came from (command, commit, host, versions)
    assert {"command", "date", "commit", "dirty", "host", "cpu_model", "versions"} <= set(start["provenance"])
    assert start["provenance"]["versions"]["torch"] == torch.__version__
    assert load_checkpoint(run)["fast_path"] == part["fast_path"]
    assert json.loads((run / "config.json").read_text())["amp"] == "auto"     # the config keeps the intent
    assert "fast path: bf16 autocast, eager, contiguous" in capsys.readouterr().err

    native_bf16(False)                                       # resumed where bf16 is not native: kept
    done = run_training(None, run, resume=True)
    assert done["status"] == "done" and done["fast_path"]["amp"] == "bf16"
    resume = next(e for e in _events(run) if e["event"] == "resume")
    assert resume["fast_path"]["reason"]["amp"].startswith("kept from the run's start")

    # a run from before the fast path: config.json with compile false, a checkpoint without a record
    native_bf16(True)
    old = tmp_path / "old"
    part = run_training(cfg.updated({"compile": False}), old, on_step=stop)
    state = load_checkpoint(old)
    del state["fast_path"]
    save_checkpoint(old / "checkpoint.pt", state)
    config = json.loads((old / "config.json").read_text())
    assert config["compile"] is False and config["amp"] == "auto"
    done = run_training(None, old, resume=True)
    assert done["status"] == "done"
    assert done["fast_path"]["amp"] == "off" and "before the automatic" in done["fast_path"]["reason"]["amp"]
    assert done["fast_path"]["compile"] is False
    assert done["fast_path"]["reason"]["compile"] == "asked for (compile=false)"


@pytest.mark.slow   # ~6 s: the demo's short run and its evaluations
def test_the_demo_reports_the_fast_path_it_trained_with(tmp_path, monkeypatch, native_bf16):
    from alexnet.cli.main import main as cli
    from alexnet.demo import demo_config
    assert (demo_config(None, "cpu", "cpu").amp, demo_config(None, "cpu", "cpu").compile) == ("auto", "auto")
    monkeypatch.setenv("ALEXNET_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("ALEXNET_DEMO_STARTED", raising=False)
    native_bf16(True)
    fm = write_fashion_idx(tmp_path / "fm")
    out = tmp_path / "demo"
    assert cli(["demo", "--out", str(out), "--data", str(fm), "--device", "cpu", "--profile", "cpu",
                "--set", "epochs=1", "--set", "max_steps_per_epoch=2", "--set", "batch_size=16",
                "--set", "workers=0", "--set", "holdout=16"]) == 0
    report = json.loads((out / "report.json").read_text())
    fp = report["fast_path"]
    assert (fp["amp"], fp["compile"], fp["channels_last"]) == ("bf16", False, False)
    assert report["precision"] == fp["precision"] == "bf16 autocast"       # the final tests ran in it too
    assert "multiplies bf16 in hardware" in fp["reason"]["amp"] and "0.46×" in fp["reason"]["compile"]
    assert fp["cpu_flags"] == report["provenance"]["cpu_flags"]
