"""torchrun --max-restarts: a rank killed mid-run, the job restarted with the same command line
(``--resume auto``), the run resumed from its last checkpoint (docs/FAULTS.md)."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from train_fixtures import write_fashion_idx

# Rank 1 of the first attempt SIGKILLs itself after global step 6 (mid-epoch 2); then torchrun
# restarts both ranks with the original command line.
KILLER = """
import os, signal, sys
from alexnet.train import loop
init = loop.Trainer.__init__
def killing_init(self, *a, **kw):
    init(self, *a, **kw)
    if os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") == "0" and os.environ.get("RANK") == "1":
        self.on_step = lambda t, step: os.kill(os.getpid(), signal.SIGKILL) if step == 6 else None
loop.Trainer.__init__ = killing_init
from alexnet.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow   # ~60-90 s on two busy CPU cores: two gloo ranks, killed, restarted, resumed
def test_killed_rank_is_restarted_and_resumes(tmp_path):
    fm = write_fashion_idx(tmp_path / "fm")
    script = tmp_path / "killer.py"
    script.write_text(KILLER)
    run = tmp_path / "run"
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = {**os.environ, "PYTHONPATH": src, "ALEXNET_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--max-restarts", "1",
           "--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{_free_port()}", str(script),
           "train", "--recipe", "d2l", "--arch", "alexnet2012", "--data", str(fm), "--out", str(run),
           "--resume", "auto", "--device", "cpu", "--epochs", "2", "--batch-size", "16", "--input-size", "64",
           "--workers", "0", "--lr", "0.01", "--set", "optimizer=sgd", "--set", "augment=flip",
           "--set", "log_interval=2"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    events = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds.count("start") == 1 and kinds.count("resume") == 1 and kinds[-1] == "end", kinds
    resume = next(e for e in events if e["event"] == "resume")
    assert resume["step"] == 4 and resume["world_size"] == 2          # from the end of epoch 1
    assert events[-1]["step"] == 8 and (run / "model.safetensors").is_file()
    assert "resuming" in proc.stderr


def test_resume_auto_starts_a_new_run_when_there_is_none(tmp_path, monkeypatch):
    from alexnet.cli import train as train_cli
    from alexnet.cli.main import build_parser
    seen = {}
    monkeypatch.setattr("alexnet.train.runner.run_training",
                        lambda cfg, run_dir, resume=False, overrides=None: seen.update(
                            cfg=cfg, run_dir=run_dir, resume=resume) or {"status": "done", "history": [],
                                                                         "weights": "w"})
    args = build_parser().parse_args(["train", "--out", str(tmp_path / "r"), "--resume", "auto",
                                      "--dataset", "fashion-mnist", "--epochs", "3"])
    assert train_cli.run_train(args) == 0
    assert seen["resume"] is False and seen["cfg"].epochs == 3 and str(seen["run_dir"]) == str(tmp_path / "r")
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "config.json").write_text("{}")
    (tmp_path / "r" / "checkpoint.pt").write_bytes(b"")
    assert train_cli.run_train(args) == 0
    assert seen["resume"] is True and seen["cfg"] is None
