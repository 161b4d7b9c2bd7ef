"""Shared by the tests of ``alexnet serve``: a small net with image-dependent answers, test pictures,
an in-process app, and a live server on a free loopback port.

    path = peaky_weights(tmp_path / "model.safetensors")      # alexnet2012 at 67 px, 5 classes
    with live_server(Served.load([path])) as url: ...          # uvicorn in a thread, stopped after
"""

from __future__ import annotations

import contextlib
import io
import socket
import struct
import threading
import time
import zlib
from pathlib import Path

import torch
from PIL import Image

from alexnet.models import alexnet2012
from alexnet.weights import save_weights
from test_use_predict import SMALL_PRE, picture

PHOTOS = Path(__file__).parent / "photos"
FC8_SCALE = 50.0   # fc8 is drawn with std 0.01: ×50 spreads the logits so that top-1 is 0.3–0.8 and the
                   # six pictures' softmaxes lie ≥ 0.2 apart (measured); more saturates them to one class


def pictures(n: int = 6) -> list[Image.Image]:
    """``n`` different pictures (gradients and noise, each rotated differently)."""
    return [picture(96, 80, seed=s).rotate(37 * s) for s in range(n)]


def jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def peaky_weights(path: Path, seed: int = 0) -> Path:
    """A random 67-px alexnet2012 with 5 classes whose softmax differs clearly between pictures: fc8's
    bias removes the logits of the pictures' mean fc7, and its weights are scaled up (as
    tests/torchvision_fixtures.py does for torchvision's net). Without this a random net answers
    nearly the same distribution for every image, and mixed-up batch rows would go unnoticed."""
    torch.manual_seed(seed)
    model = alexnet2012(num_classes=5, in_channels=3, input_size=67)
    mean = torch.rand(3, 73, 73) * 255
    save_weights(path, model, class_names=[f"class{i}" for i in range(5)], preprocessing=SMALL_PRE,
                 extra_tensors={"mean_image": mean})
    from alexnet.use import Predictor
    predictor = Predictor(path, "cpu")
    fc7 = predictor.features(pictures() + [Image.open(p) for p in sorted(PHOTOS.glob("*.jpg"))])
    with torch.no_grad():
        model.fc8.weight.mul_(FC8_SCALE)
        model.fc8.bias.copy_(-model.fc8.weight @ fc7.mean(0))
    save_weights(path, model, class_names=[f"class{i}" for i in range(5)], preprocessing=SMALL_PRE,
                 extra_tensors={"mean_image": mean})
    return path


def png_claiming(width: int, height: int) -> bytes:
    """A few dozen bytes of PNG whose header declares ``width``×``height`` pixels (a decompression bomb's
    header: the image data never follows)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


@contextlib.contextmanager
def live_server(state, log_level: str = "warning"):
    """Serve ``create_app(state)`` with uvicorn on a free loopback port in a thread; yields the base URL."""
    import uvicorn
    from alexnet.serve.app import create_app
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(state), log_level=log_level, access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()
