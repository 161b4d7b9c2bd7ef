"""Load on `alexnet serve` over loopback: C concurrent clients for T seconds, with dynamic batching
on (--max-batch 32) and off (--max-batch 1), then 10,000 requests for the memory check, then
1,000 malformed requests mixed among good ones.

    python benchmarks/serve_load.py                       # T = 20 s per row
    python benchmarks/serve_load.py --seconds 8 --out benchmarks/results/serve-load.json
    python benchmarks/serve_load.py --quick               # a smoke run (seconds, a few hundred requests)

The server is a real `alexnet serve` process (python -m alexnet serve, 127.0.0.1, a free port) with
the demo's net: alexnet2012 at 64 px, grey, 10 classes, as `alexnet demo` writes it on a CPU;
its weights are random (`--weights` takes a trained file), which changes no timing. Each client
sends one Fashion-MNIST-sized picture (28×28 PNG) as the raw body of POST /v1/predict and
waits for the answer before sending the next. Latency: from send to the full answer, on the
client. Memory: the server's resident set (VmRSS). Bounded: every phase stops after its time or
request budget, whichever comes first. The clients run on the same machine as the server and
take CPU from it; the load average from other work on the host is recorded per row.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

FASHION = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def demo_net(path: Path) -> Path:
    """The demo's CPU net (alexnet2012, 64 px, 1 channel, 10 classes) with random weights, saved as the demo saves it."""
    import torch
    from alexnet.models import alexnet2012
    from alexnet.weights import save_weights
    torch.manual_seed(0)
    model = alexnet2012(num_classes=10, in_channels=1, input_size=64)
    pre = {"stored_size": 28, "resize": 64, "crop": 64, "channels": 1, "pixel_scale": 255.0, "mean": None,
           "std": None, "mean_image": True}
    save_weights(path, model, class_names=FASHION, preprocessing=pre,
                 extra_tensors={"mean_image": torch.full((1, 28, 28), 72.9)})
    return path


def picture(seed: int = 0) -> bytes:
    """A 28×28 grey PNG: a Fashion-MNIST test image when the idx files are installed, else a blob."""
    from PIL import Image
    try:
        from alexnet.data.sources.fashion_mnist import find_fashion_mnist, read_idx
        images = read_idx(next(Path(find_fashion_mnist()).glob("t10k-images-idx3-ubyte*")))
        pixels = np.asarray(images[seed])
    except Exception:
        y, x = np.mgrid[0:28, 0:28]
        pixels = (255 * np.exp(-((x - 14) ** 2 + (y - 12 - seed % 5) ** 2) / 60)).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def malformed(i: int, good: bytes, limit: int) -> bytes:
    """Malformed body number ``i``: text, a truncated PNG, an empty body, a bomb header, or too large."""
    import struct
    import zlib
    kind = i % 5
    if kind == 0:
        return b"this is not an image " * 4
    if kind == 1:
        return good[: len(good) // 2]
    if kind == 2:
        return b""
    if kind == 3:
        def chunk(k, d):
            return struct.pack(">I", len(d)) + k + d + struct.pack(">I", zlib.crc32(k + d))
        return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 30000, 30000, 8, 0, 0, 0, 0)) + \
            chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    return b"\0" * (limit + 1)


# -- the server -------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


class Server:
    threads: int | None = None     # --threads for every server (main sets it)

    def __init__(self, weights: Path, max_batch: int, upload_mb: float = 1.0):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "alexnet", "serve", str(weights), "--port", str(self.port), "--device", "cpu",
             "--max-batch", str(max_batch), "--queue", "256", "--max-upload-mb", str(upload_mb)]
            + (["--threads", str(self.threads)] if self.threads else []),
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def wait(self, seconds: float = 180) -> "Server":
        import httpx
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited: {self.proc.stderr.read()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        raise RuntimeError("the server did not start in time")

    def rss(self) -> float:
        return rss_mib(self.proc.pid)

    def up(self) -> bool:
        import httpx
        try:
            return self.proc.poll() is None and httpx.get(f"{self.url}/healthz", timeout=5).status_code == 200
        except httpx.TransportError:
            return False

    def stop(self) -> int:
        self.proc.terminate()
        try:
            return self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


# -- the clients ------------------------------------------------------------------------------------------
async def load(url: str, clients: int, seconds: float, max_requests: int, bodies, check, on_done=None) -> dict:
    """``clients`` loops, each sending ``bodies(i)`` and waiting; stops at ``seconds`` or ``max_requests``.
    ``check(i, response) -> bool`` says whether answer ``i`` is right."""
    import httpx
    latencies: list[float] = []
    errors = {"wrong": 0, "transport": 0}
    counter = {"sent": 0}
    end = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async def client(http):
        while time.monotonic() < end and counter["sent"] < max_requests:
            i = counter["sent"]
            counter["sent"] += 1
            started = time.perf_counter()
            try:
                response = await http.post(f"{url}/v1/predict", content=bodies(i),
                                           headers={"content-type": "application/octet-stream"})
            except httpx.TransportError:
                errors["transport"] += 1
                continue
            latencies.append(time.perf_counter() - started)
            if not check(i, response):
                errors["wrong"] += 1
            if on_done is not None:
                on_done(len(latencies))

    started = time.monotonic()
    async with httpx.AsyncClient(timeout=60, limits=limits) as http:
        await asyncio.gather(*(client(http) for _ in range(clients)))
    elapsed = time.monotonic() - started
    ms = np.array(latencies) * 1000 if latencies else np.zeros(1)
    return {"clients": clients, "requests": len(latencies), "seconds": round(elapsed, 2),
            "requests_per_s": round(len(latencies) / elapsed, 1), "p50_ms": round(float(np.percentile(ms, 50)), 1),
            "p95_ms": round(float(np.percentile(ms, 95)), 1), "p99_ms": round(float(np.percentile(ms, 99)), 1),
            "errors": errors["wrong"] + errors["transport"], "transport_errors": errors["transport"]}


def answer_of(response) -> list | None:
    if response.status_code != 200:
        return None
    return [(t["class"], t["probability"]) for t in response.json()["results"][0]["top"]]


def same(a: list | None, b: list) -> bool:
    # Rows of different batch sizes differ by float rounding only (≤ 1e-5; tests/test_serve_concurrency.py).
    return a is not None and [c for c, _ in a] == [c for c, _ in b] and \
        all(abs(p - q) <= 1e-5 for (_, p), (_, q) in zip(a, b))


# -- the phases -------------------------------------------------------------------------------------------
def throughput_rows(weights: Path, seconds: float, max_requests: int, clients_list) -> list[dict]:
    import httpx
    rows = []
    body = picture(0)
    for batching, max_batch in (("on", 32), ("off", 1)):
        server = Server(weights, max_batch).wait()
        expected = answer_of(httpx.post(f"{server.url}/v1/predict", content=body, timeout=60))
        asyncio.run(load(server.url, 4, 2.0, 50, lambda i: body, lambda i, r: True))     # warm-up
        for clients in clients_list:
            rss0, load0 = server.rss(), os.getloadavg()[0]
            row = asyncio.run(load(server.url, clients, seconds, max_requests, lambda i: body,
                                   lambda i, r: same(answer_of(r), expected)))
            rows.append({"batching": batching, "max_batch": max_batch, **row, "rss_start_mib": round(rss0, 1),
                         "rss_end_mib": round(server.rss(), 1), "loadavg_1min_before": round(load0, 2),
                         "loadavg_1min_after": round(os.getloadavg()[0], 2)})
            print(format_row(rows[-1]), flush=True)
        server.stop()
    return rows


def memory_check(weights: Path, total: int, first: int, seconds: float) -> dict:
    import httpx
    body = picture(1)
    server = Server(weights, 32).wait()
    expected = answer_of(httpx.post(f"{server.url}/v1/predict", content=body, timeout=60))
    marks: dict[str, float] = {"start": server.rss()}

    def on_done(n):
        if n == first:
            marks["after_first"] = server.rss()

    row = asyncio.run(load(server.url, 32, seconds, total, lambda i: body,
                           lambda i, r: same(answer_of(r), expected), on_done))
    marks["end"] = server.rss()
    server.stop()
    growth = (marks["end"] - marks["after_first"]) / marks["after_first"] if "after_first" in marks else None
    return {**row, "rss_start_mib": round(marks["start"], 1), f"rss_after_{first}_mib": round(marks.get("after_first", 0), 1),
            "rss_end_mib": round(marks["end"], 1), "growth_after_first": None if growth is None else round(growth, 4),
            "completed_all": row["requests"] == total, "loadavg_1min_after": round(os.getloadavg()[0], 2)}


def malformed_mix(weights: Path, good: int, bad: int, seconds: float) -> dict:
    import httpx
    body, limit_mb = picture(2), 1.0
    server = Server(weights, 32, upload_mb=limit_mb).wait()
    expected = answer_of(httpx.post(f"{server.url}/v1/predict", content=body, timeout=60))
    order = [True] * good + [False] * bad
    random.Random(0).shuffle(order)
    bad_bodies = [malformed(i, body, int(limit_mb * (1 << 20))) for i in range(5)]
    outcome = {"good_ok": 0, "good_wrong": 0, "bad_4xx": 0, "bad_other": 0}

    def check(i, response):
        if order[i]:
            ok = same(answer_of(response), expected)
            outcome["good_ok" if ok else "good_wrong"] += 1
            return ok
        four = 400 <= response.status_code < 500
        outcome["bad_4xx" if four else "bad_other"] += 1
        return four

    row = asyncio.run(load(server.url, 16, seconds, len(order), lambda i: body if order[i] else bad_bodies[i % 5], check))
    still_up = server.up()
    after = answer_of(httpx.post(f"{server.url}/v1/predict", content=body, timeout=60)) if still_up else None
    server.stop()
    return {**row, **outcome, "good_sent": good, "malformed_sent": bad, "server_up_after": still_up,
            "answer_after_equal": same(after, expected), "malformed_kinds": ["text", "truncated PNG", "empty",
                                                                              "bomb header 30000×30000", "over 1 MiB (413)"]}


def format_row(r: dict) -> str:
    return (f"batching {r['batching']:>3}  C={r['clients']:>2}  {r['requests_per_s']:>7.1f} req/s  p50 {r['p50_ms']:>7.1f} ms  "
            f"p95 {r['p95_ms']:>7.1f}  p99 {r['p99_ms']:>7.1f}  errors {r['errors']}  "
            f"RSS {r['rss_start_mib']:.0f}→{r['rss_end_mib']:.0f} MiB  load {r['loadavg_1min_before']:.1f}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=20.0, help="T per throughput row (default: %(default)s)")
    p.add_argument("--clients", default="1,8,32", help="C values (default: %(default)s)")
    p.add_argument("--memory-requests", type=int, default=10_000)
    p.add_argument("--malformed", type=int, default=1_000)
    p.add_argument("--weights", help="a trained demo model.safetensors (default: the demo's net, random weights)")
    p.add_argument("--threads", type=int, help="the server's torch threads (alexnet serve --threads)")
    p.add_argument("--rows-only", action="store_true", help="only the throughput rows (no memory check, no malformed mix)")
    p.add_argument("--quick", action="store_true", help="a smoke run: T=1 s, 300 memory requests, 50 malformed")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "serve-load.json"))
    args = p.parse_args(argv)
    from alexnet.provenance import provenance
    if args.quick:
        args.seconds, args.memory_requests, args.malformed = 1.0, 300, 50
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    Server.threads = args.threads
    tmp = tempfile.TemporaryDirectory()
    weights = Path(args.weights) if args.weights else demo_net(Path(tmp.name) / "demo-net.safetensors")
    started = time.monotonic()
    load_before = os.getloadavg()
    rows = throughput_rows(weights, args.seconds, 100_000, [int(c) for c in args.clients.split(",")])
    result = {"provenance": provenance("cpu"), "benchmark": "serve_load", "net": "alexnet2012 64 px grey 10 classes"
              + (f" ({args.weights})" if args.weights else " (the demo's net, random weights)"),
              "server_threads": args.threads, "seconds_per_row": args.seconds, "cpus": os.cpu_count(),
              "loadavg_at_start": load_before, "rows": rows, "batching_speedup": speedups(rows)}
    if not args.rows_only:
        result.update(memory_and_malformed(weights, args))
    result.update(loadavg_at_end=os.getloadavg(), wall_s=round(time.monotonic() - started, 1))
    tmp.cleanup()
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"batching on / off, requests/s: {result['batching_speedup']}\nwrote {out}")
    return 0


def speedups(rows: list[dict]) -> dict:
    by = {(r["batching"], r["clients"]): r["requests_per_s"] for r in rows}
    return {f"C={c}": round(by[("on", c)] / by[("off", c)], 2) for b, c in by if b == "on" and ("off", c) in by}


def memory_and_malformed(weights: Path, args) -> dict:
    first = max(1, args.memory_requests // 10)
    memory = memory_check(weights, args.memory_requests, first, seconds=max(60.0, args.memory_requests / 20))
    print(f"memory: {memory['requests']} requests, RSS after {first}: {memory[f'rss_after_{first}_mib']} MiB, "
          f"after all: {memory['rss_end_mib']} MiB (growth {memory['growth_after_first']}), errors {memory['errors']}")
    mix = malformed_mix(weights, good=3 * args.malformed, bad=args.malformed, seconds=max(60.0, args.malformed / 10))
    print(f"malformed mix: {mix['good_ok']}/{mix['good_sent']} good answered correctly, {mix['bad_4xx']}/"
          f"{mix['malformed_sent']} malformed got 4xx, server up after: {mix['server_up_after']}")
    return {"memory": memory, "malformed_mix": mix}


if __name__ == "__main__":
    sys.exit(main())
