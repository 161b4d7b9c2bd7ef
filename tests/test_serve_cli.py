"""`alexnet serve` as a command: bad arguments are one-line errors; a real process serves on loopback
and stops cleanly (exit status 0) on SIGTERM and SIGINT."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

from alexnet.cli.main import main  # noqa: E402
from alexnet.serve.run import is_loopback  # noqa: E402
from serve_fixtures import PHOTOS, peaky_weights  # noqa: E402
from test_use_predict import small_weights  # noqa: E402

SRC = Path(__file__).parent.parent / "src"


def test_bad_arguments_are_one_line_errors(tmp_path, capsys):
    assert main(["serve", str(tmp_path / "missing.safetensors")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("alexnet serve: error:") and "missing.safetensors" in err and "\n" not in err
    weights = small_weights(tmp_path / "model.safetensors")
    assert main(["serve", str(weights), "--examples", str(tmp_path / "nope")]) == 2
    assert "--examples" in capsys.readouterr().err
    assert main(["serve", str(weights), "--index", str(tmp_path / "none.safetensors")]) == 2
    assert "feature index not found" in capsys.readouterr().err


def test_loopback_is_recognised():
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.2")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_process_serves_and_stops_cleanly(tmp_path, sig):
    weights = peaky_weights(tmp_path / "model.safetensors")
    port = free_port()
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.Popen([sys.executable, "-m", "alexnet", "serve", str(weights), "--port", str(port),
                             "--device", "cpu"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.poll() else "slow start"
            time.sleep(0.3)
        r = httpx.post(f"{url}/v1/predict", content=(PHOTOS / "coffee.jpg").read_bytes(), timeout=60)
        assert r.status_code == 200 and len(r.json()["results"][0]["top"]) == 5
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert f"stopped ({signal.Signals(sig).name})" in err and "Traceback" not in err
