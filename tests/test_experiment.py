"""`alexnet experiment`: the paper's ablations as reruns (smoke preset on synthetic Fashion-MNIST files)."""

from __future__ import annotations

import json

import pytest

from alexnet.cli.main import main
from alexnet.experiment import ABLATIONS, NAMES, run_experiment, steps_to_target, target_train_error
from alexnet.experiment.grid import training_order
from alexnet.jsonl import read_jsonl
from train_fixtures import write_fashion_idx


@pytest.fixture
def fm(tmp_path, monkeypatch):
    monkeypatch.setenv("ALEXNET_CACHE", str(tmp_path / "cache"))
    return write_fashion_idx(tmp_path / "fm", n_train=64, n_test=32)


def quiet(_text):
    pass


def test_steps_to_target_is_the_first_logged_step_at_or_below_the_target():
    curve = [(10, 0.9), (20, 0.5), (30, 0.26), (40, 0.25), (50, 0.30), (60, 0.1)]
    assert steps_to_target(curve, 0.25) == 40          # the first crossing, not the last, not the minimum
    assert steps_to_target(curve, 0.5) == 20           # at the target counts
    assert steps_to_target(curve, 0.05) is None        # never reached
    assert steps_to_target([(10, float("nan")), (20, None), (30, 0.2)], 0.25) == 30   # gaps skipped


def test_the_target_means_on_other_data_what_25_percent_meant_on_cifar10():
    assert target_train_error(10) == 0.25              # CIFAR-10 and Fashion-MNIST: the paper's number
    assert target_train_error(2) == pytest.approx(0.5 * 0.25 / 0.9, abs=1e-4)    # rounded to 4 decimals
    assert target_train_error(1000) == pytest.approx(0.999 * 0.25 / 0.9, abs=1e-4)


def _configs(out, result):
    return {v["name"]: json.loads((out / "runs" / v["name"] / "seed-0" / "config.json").read_text())
            for v in result["variants"]}


@pytest.mark.slow
def test_smoke_preset_of_every_experiment_runs_and_writes_the_promised_files(fm, tmp_path):
    results = run_experiment("all", preset="smoke", data=str(fm), out=tmp_path / "all", device="cpu", say=quiet)
    assert [r["experiment"] for r in results] == list(NAMES)
    assert (tmp_path / "all" / "results.md").is_file()
    # the paper's own setting (relu = lrn = overlapping = two towers = dropout = crops+flips) is one
    # config: trained once and shared, so 7 runs were trained for 12 variants on grey data
    trained = sorted(p.parent for p in (tmp_path / "all").glob("*/runs/*/seed-0/log.jsonl"))
    assert len(trained) == 7, trained
    # activation trains last (figure1 answers its question better), so the paper's setting trains in
    # lrn, the first experiment, and activation's relu run is that run
    relu = json.loads((tmp_path / "all" / "activation" / "runs" / "relu" / "seed-0" / "result.json").read_text())
    assert relu["same_run_as"] == str(tmp_path / "all" / "lrn" / "runs" / "lrn" / "seed-0")
    assert training_order()[-1] == "activation" and sorted(training_order()) == sorted(NAMES)
    for result in results:
        out = tmp_path / "all" / result["experiment"]
        on_disk = json.loads((out / "results.json").read_text())
        # the shape other tools read
        for key in ("experiment", "preset", "data", "target_train_error", "variants", "paper"):
            assert key in on_disk, key
        assert on_disk["preset"] == "smoke" and on_disk["target_train_error"] == 0.25
        for v in on_disk["variants"]:
            assert set(v) >= {"name", "runs", "mean", "std"}
            assert [r["seed"] for r in v["runs"]] == [0] and v["runs"][0]["status"] == "done"
            assert set(v["mean"]) >= {"test_error", "train_error", "steps_to_target"}
            assert 0.0 <= v["mean"]["test_error"] <= 1.0
        assert (out / f"{result['experiment']}.png").read_bytes()[:4] == b"\x89PNG"
        assert "| variant |" in (out / "results.md").read_text()
        # the variants differ in their switch and in nothing else
        configs = _configs(out, on_disk)
        abl = ABLATIONS[result["experiment"]]
        switch_keys = {k for v in abl.variants for k in v.overrides}
        names = list(configs)
        for other in names[1:]:
            a, b = configs[names[0]], configs[other]
            differing = {k for k in a if k != "model" and a[k] != b[k]} | {
                f"model.{k}" for k in set(a["model"]) | set(b["model"]) if a["model"].get(k) != b["model"].get(k)}
            assert differing and differing <= switch_keys, (result["experiment"], differing)


@pytest.mark.slow   # ~10 s on two CPU cores: two smoke training runs
def test_grey_data_runs_no_lighting_variant_and_says_why(fm, tmp_path):
    result = run_experiment("augmentation", preset="smoke", data=str(fm), out=tmp_path / "aug", device="cpu",
                            say=quiet)
    assert [v["name"] for v in result["variants"]] == ["none", "crops+flips"]
    assert result["not_run"][0]["name"] == "crops+flips+lighting"
    assert "grey" in result["not_run"][0]["reason"]
    assert "does not apply" in (tmp_path / "aug" / "results.md").read_text()
    configs = _configs(tmp_path / "aug", result)
    assert configs["none"]["crops_flips"] is False and configs["crops+flips"]["crops_flips"] is True
    # Fashion-MNIST's 28-px images are resized to 73 px and cropped to 64, the paper's 224-in-256
    assert configs["none"]["resize"] == 73 and configs["none"]["input_size"] == 64


def train_relu_then_stop(fm, out):
    """The smoke activation experiment, interrupted after its first run (relu, seed 0)."""
    def stop_before_the_second_run(text):
        if "run 2/2" in text:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_experiment("activation", preset="smoke", data=str(fm), out=out, device="cpu",
                       say=stop_before_the_second_run)


@pytest.mark.slow   # ~10 s: smoke training runs
def test_a_half_finished_experiment_resumes_without_redoing_finished_runs(fm, tmp_path):
    out = tmp_path / "act"
    train_relu_then_stop(fm, out)
    first = out / "runs" / "relu" / "seed-0"
    stamp = (first / "result.json").stat().st_mtime_ns
    log_lines = len(read_jsonl(first / "log.jsonl"))
    assert not (out / "runs" / "tanh" / "seed-0" / "result.json").exists()

    said = []
    result = run_experiment("activation", preset="smoke", data=str(fm), out=out, device="cpu", say=said.append)
    assert (first / "result.json").stat().st_mtime_ns == stamp          # not rerun
    assert len(read_jsonl(first / "log.jsonl")) == log_lines              # its log not extended
    assert "finished earlier" in said[0] and "finished earlier" not in said[1]
    assert [len(v["runs"]) for v in result["variants"]] == [1, 1]


@pytest.mark.slow   # ~30 s: a training run, interrupted and resumed
def test_an_interrupted_run_continues_from_its_checkpoint(fm, tmp_path):
    from alexnet.experiment.grid import base_config, variant_config
    from alexnet.recipes import preset
    from alexnet.data.open import open_data
    from alexnet.train.runner import run_training

    out = tmp_path / "pool"
    run_experiment("pooling", preset="smoke", data=str(fm), out=out, device="cpu", say=quiet)
    # a second seed, interrupted after 2 of its 6 steps, then the experiment asked for again
    store = open_data(str(fm)).train
    cfg = variant_config(base_config(preset("smoke"), store, str(fm), None, "cpu"),
                         ABLATIONS["pooling"].variants[0], 1)
    run_dir = out / "runs" / "overlapping" / "seed-1"

    def stop(trainer, step):
        if step == 2:
            trainer.request_stop("test")

    assert run_training(cfg, run_dir, on_step=stop)["status"] == "interrupted"
    result = run_experiment("pooling", preset="smoke", seeds=2, data=str(fm), out=out, device="cpu", say=quiet)
    events = [e["event"] for e in read_jsonl(run_dir / "log.jsonl")]
    assert "interrupt" in events and "resume" in events and events[-1] == "end"
    assert [len(v["runs"]) for v in result["variants"]] == [2, 2]
    assert result["variants"][0]["runs"][1]["steps"] == 6


@pytest.mark.slow   # ~20 s on two CPU cores
def test_bad_requests_are_clear_errors(fm, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["experiment", "sigmoid", "--preset", "smoke", "--data", str(fm)])
    assert exit_.value.code == 2 and "invalid choice: 'sigmoid'" in capsys.readouterr().err
    with pytest.raises(ValueError, match="unknown experiment 'sigmoid'"):
        run_experiment("sigmoid", preset="smoke", data=str(fm), out=tmp_path / "x", say=quiet)
    # the gpu preset needs a GPU; the cpu preset needs small images
    assert main(["experiment", "lrn", "--preset", "gpu", "--data", str(fm), "--device", "cpu",
                 "--out", str(tmp_path / "g")]) == 2
    assert "needs a CUDA GPU" in capsys.readouterr().err
    import data_fixtures as fx
    from alexnet.data.prepare import prepare
    for split in ("train", "val"):
        for k in range(2):
            fx.write_folder(tmp_path / "src" / split / f"class{k}",
                            {f"{i}.JPEG": (fx.jpeg_bytes(fx.picture(120, 100, 10 * k + i)), None) for i in range(2)})
    prepare(tmp_path / "src", tmp_path / "store96", workers=1, progress=False, size=96)
    assert main(["experiment", "lrn", "--preset", "cpu", "--data", str(tmp_path / "store96"), "--device", "cpu",
                 "--out", str(tmp_path / "c")]) == 2
    assert "--size 73" in capsys.readouterr().err
    # an output folder of another experiment is refused
    run_experiment("lrn", preset="smoke", data=str(fm), out=tmp_path / "same", device="cpu", say=quiet)
    with pytest.raises(ValueError, match="holds another experiment"):
        run_experiment("dropout", preset="smoke", data=str(fm), out=tmp_path / "same", device="cpu", say=quiet)


@pytest.mark.slow   # ~10 s: one smoke run
def test_report_only_writes_the_finished_runs_and_trains_nothing(fm, tmp_path):
    out = tmp_path / "all"
    train_relu_then_stop(fm, out / "activation")
    results = run_experiment("all", preset="smoke", data=str(fm), out=out, device="cpu", say=quiet, train=False)
    assert [p.parent.parent.name for p in out.glob("*/runs/*/seed-*/log.jsonl")] == ["relu"]   # nothing trained
    activation, lrn = results[0], results[1]
    assert [len(v["runs"]) for v in activation["variants"]] == [1, 0]
    assert activation["not_finished"] == [{"variant": "tanh", "seed": 0}]
    assert activation["variants"][1]["mean"] == {} and activation["variants"][1]["reached_target"] == "0/0"
    # lrn's paper setting is relu's run: shared, so reported; no-lrn was never trained
    assert [len(v["runs"]) for v in lrn["variants"]] == [1, 0]
    assert lrn["variants"][0]["runs"][0]["same_run_as"] == str(out / "activation" / "runs" / "relu" / "seed-0")
    assert lrn["not_finished"] == [{"variant": "no-lrn", "seed": 0}]
    md = (out / "activation" / "results.md").read_text()
    assert "Not finished yet" in md and "tanh seed 0" in md
    assert json.loads((out / "lrn" / "results.json").read_text())["not_finished"] == [{"variant": "no-lrn", "seed": 0}]


@pytest.mark.slow   # ~10 s: two smoke runs
def test_runs_from_an_earlier_results_file_count_as_finished_and_nothing_else_is_merged(fm, tmp_path, capsys):
    first = tmp_path / "machine-a"
    old = run_experiment("pooling", preset="smoke", data=str(fm), out=first, device="cpu", say=quiet)
    results_file = first / "results.json"
    # every run records where it trained (reports pair runs of one host only), and so does the file
    import platform
    assert old["provenance"]["host"] == platform.node() and old["provenance"]["command"]
    assert all(r["provenance"]["host"] == platform.node() and "dirty" in r["provenance"]
               for v in old["variants"] for r in v["runs"])

    # seeds 0 and 1 in a fresh folder, the runs of seed 0 read from the file: nothing is trained
    out = tmp_path / "merged"
    said = []
    merged = run_experiment("pooling", preset="smoke", seeds=2, data=str(fm), out=out, device="cpu",
                            say=said.append, train=False, runs_from=[results_file])
    assert list(out.glob("runs/*/seed-*/log.jsonl")) == []
    assert merged["not_finished"] == [{"variant": "overlapping", "seed": 1}, {"variant": "non-overlapping", "seed": 1}]
    assert merged["imported"] == [{"variant": v, "seed": 0, "from": str(results_file)}
                                  for v in ("overlapping", "non-overlapping")]
    for v_old, v_new in zip(old["variants"], merged["variants"]):
        assert v_new["mean"]["test_error"] == v_old["mean"]["test_error"]          # the same records
        run = json.loads((out / "runs" / v_new["name"] / "seed-0" / "result.json").read_text())
        assert run["imported_from"] == str(results_file)
        assert run["original_run_dir"] == str(first / "runs" / v_new["name"] / "seed-0")
        # the config that training would have saved there: the saved configs still differ only in the switch
        assert (json.loads((out / "runs" / v_new["name"] / "seed-0" / "config.json").read_text())
                == json.loads((first / "runs" / v_new["name"] / "seed-0" / "config.json").read_text()))
    assert "read from" in said[0] and "--runs-from" in (out / "results.md").read_text()
    # the imported records keep their host: the pair of seed 0 is a pair of one host
    from alexnet.experiment.report import compare
    assert compare(merged, merged["paper"]["comparisons"][0])["differences"]["top-1"]["seeds"] == [0]

    # training trains only what no file holds (seed 1), and a run finished here is kept
    stamp = (out / "runs" / "overlapping" / "seed-0" / "result.json").stat().st_mtime_ns
    run_experiment("pooling", preset="smoke", seeds=2, data=str(fm), out=out, device="cpu", say=quiet,
                   runs_from=[results_file])
    trained = sorted(str(p.relative_to(out).parent) for p in out.glob("runs/*/seed-*/log.jsonl"))
    assert trained == ["runs/non-overlapping/seed-1", "runs/overlapping/seed-1"]
    assert (out / "runs" / "overlapping" / "seed-0" / "result.json").stat().st_mtime_ns == stamp

    # anything but the same experiment, preset, data and config is refused, naming what differs
    from alexnet.experiment.ablations import ExperimentError
    with pytest.raises(ExperimentError, match="holds the pooling experiment, not lrn"):
        run_experiment("lrn", preset="smoke", data=str(fm), out=tmp_path / "l", device="cpu", say=quiet,
                       runs_from=[results_file], train=False)
    changed = json.loads(results_file.read_text())
    changed["config"]["lr"] = 0.02
    (tmp_path / "lr.json").write_text(json.dumps(changed))
    with pytest.raises(ExperimentError, match=r"lr = 0.02 there, 0.01 here"):
        run_experiment("pooling", preset="smoke", data=str(fm), out=tmp_path / "p", device="cpu", say=quiet,
                       runs_from=[tmp_path / "lr.json"], train=False)
    (tmp_path / "bad.json").write_text("[1, 2")
    assert main(["experiment", "all", "--preset", "smoke", "--data", str(fm), "--out", str(tmp_path / "b"),
                 "--runs-from", str(tmp_path / "bad.json"), "--report-only"]) == 2
    assert "bad.json: not a readable results.json" in capsys.readouterr().err


@pytest.mark.slow   # ~20 s on a 2-core machine: six smoke runs (four choose the rates), one rerun
def test_figure1_chooses_each_rate_on_held_out_images_and_trains_without_regularisation(fm, tmp_path, capsys):
    out = tmp_path / "fig1"
    assert main(["experiment", "figure1", "--preset", "smoke", "--data", str(fm), "--device", "cpu",
                 "--out", str(out), "--lr-grid", "0.005,0.02", "--extend-grid", "0"]) == 0
    result = json.loads((out / "results.json").read_text())
    sel = result["selection"]
    assert sel["holdout"] == 16 and sel["grid"] == [0.005, 0.02]          # a quarter of the 64 training images
    for activation in ("relu", "tanh"):
        grid = sel["chosen"][activation]["grid"]
        best = min(grid, key=lambda r: (r["validation_error"], r["lr"]))
        assert sel["chosen"][activation]["lr"] == best["lr"]               # the lowest validation error wins
        run_dir = out / "runs" / activation / f"lr-{best['lr']:g}" / "seed-0"      # the rate is in the path
        run = json.loads((run_dir / "config.json").read_text())
        assert run["lr"] == best["lr"] and run["holdout"] == 16 and run["seed"] == 0
        # no regularisation of any kind
        assert run["model"]["dropout"] == 0.0 and run["crops_flips"] is False and run["weight_decay"] == 0.0
        assert run["model"]["activation"] == activation
        assert run["model"]["init"] == ("zero-bias" if activation == "tanh" else "cuda-convnet")
        record = json.loads((run_dir / "result.json").read_text())
        # the epochs validated on the 16 held-out images; the 32 test images were tested once, at the end
        assert record["validation_error"] is not None and record["test_error"] is not None
    tanh = json.loads((out / "selection" / "tanh" / "lr-0.005" / "config.json").read_text())
    assert tanh["seed"] == 1000 and tanh["model"]["init"] == "zero-bias"
    md = (out / "results.md").read_text()
    assert "Choosing each activation's learning rate" in md and "steps ratio ≈ 6" in md
    # of two rates with no step past them, the one chosen is an edge, and the report says so
    assert md.count("is the edge of the rates tried") == 2 and sel["extensions"] == 0
    # a rerun trains nothing: every run is read back
    tanh_run = out / "runs" / "tanh" / f"lr-{sel['chosen']['tanh']['lr']:g}" / "seed-0" / "result.json"
    stamp = tanh_run.stat().st_mtime_ns
    assert main(["experiment", "figure1", "--preset", "smoke", "--data", str(fm), "--device", "cpu",
                 "--out", str(out), "--lr-grid", "0.005,0.02", "--extend-grid", "0"]) == 0
    assert tanh_run.stat().st_mtime_ns == stamp
    capsys.readouterr()
    assert main(["experiment", "figure1", "--preset", "smoke", "--data", str(fm), "--seed", "1000",
                 "--out", str(tmp_path / "x")]) == 2
    assert "chooses the learning rates" in capsys.readouterr().err


def test_zero_bias_init_sets_every_bias_to_zero():
    from alexnet.models.alexnet2012 import AlexNet2012
    net = AlexNet2012(num_classes=10, in_channels=1, input_size=64, init="zero-bias", activation="tanh")
    biases = [m.bias for m in net.modules() if hasattr(m, "bias") and m.bias is not None]
    assert len(biases) == 8 and all(float(b.detach().abs().max()) == 0.0 for b in biases)
    conv3 = dict(net.named_modules())
    std = [m.weight.detach().std().item() for n, m in conv3.items() if n.endswith("conv3")][0]
    assert 0.025 < std < 0.035          # cuda-convnet's N(0, 0.03): the sample SD of 663,552 draws, within 0.1 %


def _fake_runs(monkeypatch, errors):
    """figure1 with its training replaced: a run writes the config's rate and returns the validation
    error ``errors[(activation, lr)]`` (None: the run failed); returns the runs trained, in order."""
    from alexnet.experiment import figure1
    trained = []

    def one_run(cfg, run_dir, target, num_classes, finished=None, device=None):
        if (run_dir / "result.json").is_file():
            return json.loads((run_dir / "result.json").read_text())
        activation = cfg.model["activation"]
        trained.append((activation, cfg.lr, cfg.seed))
        error = errors.get((activation, cfg.lr), 0.5)
        record = {"seed": cfg.seed, "status": "failed" if error is None else "done", "validation_error": error,
                  "steps_to_target": None, "train_error": None, "run_dir": str(run_dir)}
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.json").write_text(json.dumps({"lr": cfg.lr}))
        (run_dir / "result.json").write_text(json.dumps(record))
        return record

    monkeypatch.setattr(figure1, "_one_run", one_run)
    return figure1, trained


def test_figure1_tries_rates_past_the_edge_of_the_grid_until_one_is_worse_or_fails(tmp_path, monkeypatch):
    from alexnet.config import Config
    # tanh improves up to 0.08 and fails at 0.32; relu is best inside the grid; both start from 0.01, 0.02
    errors = {("tanh", 0.01): 0.30, ("tanh", 0.02): 0.20, ("tanh", 0.04): 0.15, ("tanh", 0.08): 0.12,
              ("tanh", 0.16): 0.13, ("relu", 0.01): 0.10, ("relu", 0.02): 0.11, ("relu", 0.005): 0.12}
    figure1, trained = _fake_runs(monkeypatch, errors)
    base = Config().updated({"lr": 0.01})
    chosen = figure1.choose_rates(base, [0.01, 0.02], tmp_path, 0.25, 10, None, quiet)
    # relu: 0.01 (the grid's smallest) won, so half of it is tried; 0.005 is worse: stop
    assert [r["lr"] for r in chosen["relu"]["grid"]] == [0.005, 0.01, 0.02]
    assert chosen["relu"]["lr"] == 0.01 and not chosen["relu"]["at_edge"]
    # tanh: 0.02 won, then 0.04, then 0.08; 0.16 is worse: 0.08 is chosen, inside the rates tried
    assert [r["lr"] for r in chosen["tanh"]["grid"]] == [0.01, 0.02, 0.04, 0.08, 0.16]
    assert chosen["tanh"]["lr"] == 0.08 and not chosen["tanh"]["at_edge"]
    assert [r["past_the_grid"] for r in chosen["tanh"]["grid"]] == [False, False, True, True, True]
    # a failed rate above the best ends the search upwards (the failed run is the stability limit)
    errors2 = {("tanh", 0.01): 0.30, ("tanh", 0.02): 0.20, ("tanh", 0.04): None, ("relu", 0.01): 0.10,
               ("relu", 0.02): 0.11, ("relu", 0.005): 0.12}
    figure1, trained = _fake_runs(monkeypatch, errors2)
    chosen = figure1.choose_rates(base, [0.01, 0.02], tmp_path / "b", 0.25, 10, None, quiet)
    assert [r["lr"] for r in chosen["tanh"]["grid"]] == [0.01, 0.02, 0.04] and chosen["tanh"]["lr"] == 0.02
    # with no steps past the grid, the edge is reported as the edge
    chosen = figure1.choose_rates(base, [0.01, 0.02], tmp_path / "c", 0.25, 10, None, quiet, extend=0)
    assert chosen["tanh"]["lr"] == 0.02 and chosen["tanh"]["at_edge"]
    assert chosen["relu"]["lr"] == 0.01 and chosen["relu"]["at_edge"]       # the smallest of the grid
    md = figure1.selection_markdown({"selection": {"seed": 1000, "holdout": 16, "rule": "r", "extensions": 0,
                                                   "chosen": chosen}})
    assert "**tanh's rate 0.02 is the edge of the rates tried**" in md and "relu's rate" in md


def test_figure1_never_reads_a_run_back_at_a_rate_it_was_not_trained_at(tmp_path, monkeypatch):
    figure1, trained = _fake_runs(monkeypatch, {})
    from alexnet.config import Config
    base = Config()
    # the measured runs live under their rate: a grid that changes the rate chosen trains new ones
    assert figure1.measurement_dir(tmp_path, "tanh", 0.04, 3) == tmp_path / "runs" / "tanh" / "lr-0.04" / "seed-3"
    # the layout before the rate was in the name is read back only where its rate is the one chosen
    legacy = tmp_path / "runs" / "tanh" / "seed-0"
    figure1._train(figure1.run_config(base, "tanh", 0.04, 0), legacy, 0.25, 10, None, quiet, "legacy")
    assert figure1.measurement_dir(tmp_path, "tanh", 0.04, 0) == legacy
    assert figure1.measurement_dir(tmp_path, "tanh", 0.08, 0) == tmp_path / "runs" / "tanh" / "lr-0.08" / "seed-0"
    interrupted = tmp_path / "runs" / "tanh" / "seed-1"            # its checkpoint resumes where its rate is chosen
    interrupted.mkdir(parents=True)
    (interrupted / "config.json").write_text(json.dumps({"lr": 0.04}))
    assert figure1.measurement_dir(tmp_path, "tanh", 0.04, 1) == interrupted
    assert figure1.measurement_dir(tmp_path, "tanh", 0.08, 1).parent.name == "lr-0.08"
    # a folder that holds a run at another rate is refused, not relabelled
    with pytest.raises(figure1.ExperimentError, match="trained at lr 0.04, not 0.08"):
        figure1._train(figure1.run_config(base, "tanh", 0.08, 0), legacy, 0.25, 10, None, quiet, "x")
    assert trained == [("tanh", 0.04, 0)]
