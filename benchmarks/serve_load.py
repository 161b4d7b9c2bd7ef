"""Load on `alexnet serve` over loopback: C concurrent clients for T seconds, with dynamic batching
on (--max-batch 32) and off (--max-batch 1), then 10,000 requests for the memory check, then
1,000 malformed requests mixed among good ones.

    python benchmarks/serve_load.py                       # T = 20 s per row
    python benchmarks/serve_load.py --seconds 8 --out benchmarks/results/serve-load.json
    python benchmarks/serve_load.py --quick               # a smoke run (seconds, a few hundred requests)

A real `alexnet serve` process on 127.0.0.1 with the demo's CPU net (random weights: no timing changes);
each client sends a 28×28 PNG as the raw body of POST /v1/predict and waits for the answer before the
next. Every phase stops after its time or request budget. docs/BENCHMARKS.md ("Serving") has the details.
"""

import asyncio
import io
import itertools
import os
import random
import socket
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import httpx
import numpy as np
import torch
from PIL import Image

import common
from alexnet.data.sources.fashion_mnist import CLASS_NAMES, find_fashion_mnist, read_idx
from alexnet.data.synthetic import band_images
from alexnet.models import alexnet2012
from alexnet.weights import save_weights


def demo_net(path: Path) -> Path:
    """The demo's CPU net (alexnet2012, 64 px, 1 channel, 10 classes) with random weights, saved as the demo saves it."""
    torch.manual_seed(0)
    pre = {"stored_size": 28, "resize": 64, "crop": 64, "channels": 1, "pixel_scale": 255.0, "mean": None,
           "std": None, "mean_image": True}
    return save_weights(path, alexnet2012(num_classes=10, in_channels=1, input_size=64), class_names=CLASS_NAMES,
                        preprocessing=pre, extra_tensors={"mean_image": torch.full((1, 28, 28), 72.9)})


def picture(seed: int = 0) -> bytes:
    """A 28×28 grey PNG: a Fashion-MNIST test image when the idx files are installed, else a synthetic one."""
    try:
        pixels = np.asarray(read_idx(next(Path(find_fashion_mnist()).glob("t10k-images-idx3-ubyte*")))[seed])
    except Exception:
        pixels = band_images(seed + 1, 10, seed=0)[0][seed]
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


class Server(subprocess.Popen):
    """A real `alexnet serve` process on a free loopback port (stopped on leaving ``with``) and the picture
    ``body``: ``expected`` is its first answer to it, against which the later ones are checked."""
    threads: int | None = None     # --threads for every server (main sets it)

    def __init__(self, weights: Path, max_batch: int, body: bytes):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.url, self.body = f"http://127.0.0.1:{port}", body
        super().__init__([sys.executable, "-m", "alexnet", "serve", str(weights), "--port", str(port), "--device",
                          "cpu", "--max-batch", str(max_batch), "--queue", "256", "--max-upload-mb", "1"]
                         + (["--threads", str(self.threads)] if self.threads else []),
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 180
        while not self.up():
            if self.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"the server exited or did not start in time: {self.stderr.read()[-2000:]}")
            time.sleep(0.3)
        self.expected = self.post().json()["results"][0]["top"]

    def __exit__(self, *exc) -> None:
        self.terminate()
        super().__exit__(*exc)

    def up(self) -> bool:
        try:
            return self.poll() is None and httpx.get(f"{self.url}/healthz", timeout=5).status_code == 200
        except httpx.TransportError:
            return False

    def post(self):
        return httpx.post(f"{self.url}/v1/predict", content=self.body, timeout=60)

    def right(self, response) -> bool:
        """Whether ``response`` answers as the first answer did: the same classes, probabilities within 1e-5
        (rows of different batch sizes differ by float rounding only: tests/test_serve_concurrency.py)."""
        got, want = response.json()["results"][0]["top"] if response.status_code == 200 else None, self.expected
        return got is not None and [t["class"] for t in got] == [t["class"] for t in want] and np.allclose(
            [t["probability"] for t in got], [t["probability"] for t in want], rtol=0, atol=1e-5)

    def rss(self) -> float:
        """The server's resident set, MiB."""
        lines = Path(f"/proc/{self.pid}/status").read_text().splitlines()
        return int(next(line for line in lines if line.startswith("VmRSS:")).split()[1]) / 1024

    def load(self, clients: int, seconds: float, max_requests: int, body=None, check=None, on_done=None) -> dict:
        """``clients`` loops, each sending ``body(i)`` (default: ``self.body``) and waiting for the answer, until
        ``seconds`` or ``max_requests``; ``check(i, response)`` (default: the answer is ``expected``) says
        whether answer ``i`` is right; ``on_done(n)`` is called after the n-th answer."""
        body, check = body or (lambda i: self.body), check or (lambda i, r: self.right(r))
        latencies, errors, sent, end = [], {"wrong": 0, "transport": 0}, itertools.count(), time.monotonic() + seconds

        async def client(http):
            while time.monotonic() < end and (i := next(sent)) < max_requests:
                t0 = time.perf_counter()
                try:
                    response = await http.post(f"{self.url}/v1/predict", content=body(i),
                                               headers={"content-type": "application/octet-stream"})
                except httpx.TransportError:
                    errors["transport"] += 1
                    continue
                latencies.append(time.perf_counter() - t0)
                errors["wrong"] += not check(i, response)
                if on_done:
                    on_done(len(latencies))

        async def all_clients():
            limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
            async with httpx.AsyncClient(timeout=60, limits=limits) as http:
                await asyncio.gather(*(client(http) for _ in range(clients)))
        t0 = time.monotonic()
        asyncio.run(all_clients())
        elapsed, ms = time.monotonic() - t0, np.array(latencies or [0.0]) * 1000
        return {"clients": clients, "requests": len(latencies), "seconds": round(elapsed, 2),
                "requests_per_s": round(len(latencies) / elapsed, 1),
                **{f"p{q}_ms": round(float(np.percentile(ms, q)), 1) for q in (50, 95, 99)},
                "errors": errors["wrong"] + errors["transport"], "transport_errors": errors["transport"]}


def throughput_rows(weights: Path, seconds: float, clients_list: list[int]) -> list[dict]:
    rows = []
    for batching, max_batch in (("on", 32), ("off", 1)):
        with Server(weights, max_batch, picture(0)) as server:
            server.load(4, 2.0, 50, check=lambda i, r: True)     # warm-up
            for clients in clients_list:
                rss0, load0 = server.rss(), os.getloadavg()[0]
                r = {"batching": batching, "max_batch": max_batch, **server.load(clients, seconds, 100_000),
                     "rss_start_mib": round(rss0, 1), "rss_end_mib": round(server.rss(), 1),
                     "loadavg_1min_before": round(load0, 2), "loadavg_1min_after": round(os.getloadavg()[0], 2)}
                rows.append(r)
                print(f"batching {batching:>3}  C={clients:>2}  {r['requests_per_s']:>7.1f} req/s  p50 "
                      f"{r['p50_ms']:>7.1f} ms  p95 {r['p95_ms']:>7.1f}  p99 {r['p99_ms']:>7.1f}  errors "
                      f"{r['errors']}  RSS {rss0:.0f}→{r['rss_end_mib']:.0f} MiB  load {load0:.1f}", flush=True)
    return rows


def soak(weights: Path, total: int, bad: int) -> dict:
    """On one server (batching on): ``total`` requests at C = 32, with its memory at the start, after the first
    tenth and at the end; then 3 × ``bad`` good requests with ``bad`` malformed ones shuffled among them, C = 16:
    text, a truncated PNG, an empty body, a PNG header declaring 30000×30000 pixels, a body over the 1 MiB limit."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    body, first, good = picture(1), max(1, total // 10), 3 * bad
    bomb = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 30000, 30000, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))
    bad_bodies = [b"this is not an image " * 4, body[: len(body) // 2], b"", bomb, b"\0" * ((1 << 20) + 1)]
    order = [True] * good + [False] * bad
    random.Random(0).shuffle(order)
    outcome = dict.fromkeys(("good_ok", "good_wrong", "bad_4xx", "bad_other"), 0)
    with Server(weights, 32, body) as server:
        rss = {"start": server.rss(), "after_first": None}

        def on_done(n):
            if n == first:
                rss["after_first"] = server.rss()
        memory = server.load(32, max(60.0, total / 20), total, on_done=on_done)
        rss["end"] = server.rss()

        def check(i, response):
            ok = server.right(response) if order[i] else 400 <= response.status_code < 500
            outcome[(("good_ok", "good_wrong") if order[i] else ("bad_4xx", "bad_other"))[not ok]] += 1
            return ok
        mix = server.load(16, max(60.0, bad / 10), len(order), lambda i: body if order[i] else bad_bodies[i % 5], check)
        still_up = server.up()
        after_ok = still_up and server.right(server.post())
    growth = (rss["end"] - rss["after_first"]) / rss["after_first"] if rss["after_first"] else None
    memory.update({"rss_start_mib": round(rss["start"], 1), f"rss_after_{first}_mib": round(rss["after_first"] or 0, 1),
                   "rss_end_mib": round(rss["end"], 1), "growth_after_first": growth and round(growth, 4),
                   "completed_all": memory["requests"] == total, "loadavg_1min_after": round(os.getloadavg()[0], 2)})
    mix.update({**outcome, "good_sent": good, "malformed_sent": bad, "server_up_after": still_up,
                "answer_after_equal": after_ok, "malformed_kinds": ["text", "truncated PNG", "empty",
                                                                    "bomb header 30000×30000", "over 1 MiB (413)"]})
    print(f"memory: {memory}\nmalformed mix: {mix}")
    return {"memory": memory, "malformed_mix": mix}


def main(argv=None) -> dict:
    p = common.parser(__doc__, "serve-load", "a smoke run: T=1 s, 300 memory requests, 50 malformed")
    p.add_argument("--seconds", type=float, default=20.0, help="T per throughput row (default: %(default)s)")
    p.add_argument("--clients", type=lambda s: [int(c) for c in s.split(",")], default=[1, 8, 32],
                   help="C values, comma-separated (default: 1,8,32)")
    p.add_argument("--memory-requests", type=int, default=10_000)
    p.add_argument("--malformed", type=int, default=1_000)
    p.add_argument("--threads", type=int, help="the server's torch threads (alexnet serve --threads)")
    p.add_argument("--rows-only", action="store_true", help="only the throughput rows (no memory, no malformed mix)")
    args = p.parse_args(argv)
    if args.quick:
        args.seconds, args.memory_requests, args.malformed = 1.0, 300, 50
    Server.threads, start, t0 = args.threads, common.started("cpu"), time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        weights = demo_net(Path(tmp) / "demo-net.safetensors")
        rows = throughput_rows(weights, args.seconds, args.clients)
        by = {(r["batching"], r["clients"]): r["requests_per_s"] for r in rows}
        result = {"benchmark": "serve_load", "net": "alexnet2012 64 px grey 10 classes (the demo's net, random weights)",
                  "server_threads": args.threads, "seconds_per_row": args.seconds, "cpus": os.cpu_count(), "rows": rows,
                  "batching_speedup": {f"C={c}": round(by[("on", c)] / by[("off", c)], 2) for c in args.clients}}
        print(f"batching on / off, requests/s: {result['batching_speedup']}")
        if not args.rows_only:
            result.update(soak(weights, args.memory_requests, args.malformed))
    result["wall_s"] = round(time.monotonic() - t0, 1)
    return common.write_result(args, "serve-load", "cpu", start, result)


if __name__ == "__main__":
    main()
