"""A stop request (SIGTERM) reaches every level of a command (docs/FAULTS.md): real signals sent
to real `alexnet` processes at a chosen step."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from train_fixtures import write_fashion_idx

SRC = str(Path(__file__).resolve().parents[1] / "src")

# The CLI, with the first training run sending SIGTERM to its own process at a chosen moment (as
# `timeout` or a scheduler's preemption would): STOP_AT=step:N after step N; STOP_AT=end at the start
# of the run's last end of epoch (validation, checkpoint, weights), after its last step.
SIGNALLER = """
import os, signal, sys
from alexnet.train import loop
init, end_epoch = loop.Trainer.__init__, loop.Trainer._end_epoch
runs = []
at = os.environ.get("STOP_AT", "")
def signalling_init(self, *a, **kw):
    init(self, *a, **kw)
    runs.append(self)
    if len(runs) == 1 and at.startswith("step:"):
        self.on_step = lambda t, step: os.kill(os.getpid(), signal.SIGTERM) if step == int(at[5:]) else None
def signalling_end_epoch(self, seconds):
    if at == "end" and self is runs[0] and self.epoch + 1 == self.cfg.epochs:
        os.kill(os.getpid(), signal.SIGTERM)
    return end_epoch(self, seconds)
loop.Trainer.__init__ = signalling_init
loop.Trainer._end_epoch = signalling_end_epoch
from alexnet.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def alexnet(tmp_path, *argv, stop_at=None, timeout=300):
    script = tmp_path / "signaller.py"
    script.write_text(SIGNALLER)
    env = {**os.environ, "PYTHONPATH": SRC, "ALEXNET_CACHE": str(tmp_path / "cache"),
           "STOP_AT": stop_at or ""}
    return subprocess.run([sys.executable, str(script), *map(str, argv)], env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.mark.slow   # ~45 s: one 6-step smoke run of an experiment, stopped after its last step
def test_sigterm_in_the_last_step_stops_the_experiment(tmp_path):
    fm = write_fashion_idx(tmp_path / "fm")
    out = tmp_path / "exp"
    # the smoke preset: 2 epochs x 3 steps; the signal arrives after step 6, the first run's last
    proc = alexnet(tmp_path, "experiment", "pooling", "--preset", "smoke", "--data", fm, "--out", out,
                   "--device", "cpu", stop_at="end")
    assert proc.returncode == 130, proc.stderr[-2000:]
    assert "SIGTERM received: experiment pooling" in proc.stderr and "Traceback" not in proc.stderr
    runs = sorted(p.parent.parent.name for p in out.glob("runs/*/seed-*/result.json"))
    assert len(runs) == 1                                   # the first run finished and was recorded ...
    started = [p for p in out.glob("runs/*/seed-*") if (p / "log.jsonl").exists()]
    assert len(started) == 1                                # ... and no second run was started
    assert not (out / "results.json").exists()


@pytest.mark.slow   # ~30 s: a 2-step demo stopped in its last step, then run again to finish
def test_sigterm_in_the_last_step_stops_the_demo_before_its_test(tmp_path):
    fm = write_fashion_idx(tmp_path / "fm")
    out = tmp_path / "demo"
    args = ["demo", "--data", fm, "--out", out, "--device", "cpu", "--set", "epochs=1",
            "--set", "max_steps_per_epoch=2", "--set", "batch_size=16", "--set", "workers=0",
            "--set", "holdout=16"]   # 16 of the 64 training images (the demo: 5,000)
    proc = alexnet(tmp_path, *args, stop_at="end")
    assert proc.returncode == 130, proc.stderr[-2000:]
    assert "SIGTERM received: the demo" in proc.stderr
    assert (out / "model.safetensors").is_file() and not (out / "report.json").exists()
    again = alexnet(tmp_path, *args)
    assert again.returncode == 0, again.stderr[-2000:]
    assert json.loads((out / "report.json").read_text())["steps"] == 2


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        out += [int(c) for c in text]
    return out


@pytest.mark.slow   # ~30 s: prepare with two worker processes, stopped mid-way, run again
def test_sigterm_stops_prepare_and_its_workers(tmp_path):
    from data_fixtures import jpeg_bytes, picture
    for c in range(4):
        (tmp_path / "src" / f"c{c}").mkdir(parents=True)
        for i in range(60):
            (tmp_path / "src" / f"c{c}" / f"{i}.jpg").write_bytes(jpeg_bytes(picture(400, 300, i)))
    env = {**os.environ, "PYTHONPATH": SRC}
    proc = subprocess.Popen([sys.executable, "-m", "alexnet", "prepare", str(tmp_path / "src"), str(tmp_path / "out"),
                             "--workers", "2", "--chunk-size", "8"], env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline and len(_children(proc.pid)) < 2:
        time.sleep(0.1)
    workers = _children(proc.pid)
    assert len(workers) >= 2
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "SIGTERM" in err and "Traceback" not in err, err[-2000:]
    time.sleep(1)
    alive = [w for w in workers if Path(f"/proc/{w}").exists() and "Z" not in
             Path(f"/proc/{w}/stat").read_text().split(")")[1].split()[0]]
    assert alive == []                                           # no worker left running on its own
    again = subprocess.run([sys.executable, "-m", "alexnet", "prepare", str(tmp_path / "src"), str(tmp_path / "out"),
                            "--workers", "2", "--chunk-size", "8"], env=env, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr[-2000:]
    assert not list((tmp_path / "out").glob("*/.tmp-*"))         # the rerun cleared what the workers left
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["splits"]["train"]["images"] == 240
