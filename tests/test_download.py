"""alexnet.download against a loopback HTTP server standing in for each origin (nothing leaves the machine).

Each failure (a truncated body, a wrong checksum, a refused connection, offline) must leave the
cache folder exactly as it was (no partial or temporary file) and say what happened in one line.
The CLI paths: `predict torchvision:IMAGENET1K_V1` downloads the checkpoint, then predicts; the
named data set `fashion-mnist` downloads its four files from a mirror, then opens.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import http.server
import socket
import threading
from pathlib import Path

import pytest

from alexnet import download
from alexnet.cli.main import main
from alexnet.download import DownloadError, ensure_asset, get_asset, registry
from torchvision_fixtures import photos
from train_fixtures import write_fashion_idx

TAG = "torchvision:IMAGENET1K_V1"


class Origin:
    """A loopback HTTP server: ``files`` maps a URL path to a file's bytes (or a Path streamed
    from disk); ``truncate`` maps a path to how many bytes are sent before the connection closes
    (the Content-Length still announces the whole file)."""

    def __init__(self):
        self.files: dict[str, bytes | Path] = {}
        self.truncate: dict[str, int] = {}
        self.requests: list[str] = []
        origin = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                origin.requests.append(self.path)
                body = origin.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                size = body.stat().st_size if isinstance(body, Path) else len(body)
                self.send_response(200)
                self.send_header("Content-Length", str(size))
                self.end_headers()
                limit = origin.truncate.get(self.path, size)
                if isinstance(body, Path):
                    with open(body, "rb") as f:
                        while limit > 0 and (block := f.read(min(1 << 20, limit))):
                            self.wfile.write(block)
                            limit -= len(block)
                else:
                    self.wfile.write(body[:limit])
                self.close_connection = True

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02},
                                       daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def origin():
    server = Origin()
    yield server
    server.close()


@pytest.fixture
def closed_port_url():
    """A URL on a loopback port nothing listens on (bound, then closed): connections are refused."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}/"


def tiny_asset(tmp_path: Path, body: bytes, *, digest: str | None = None, algorithm: str = "sha256",
               mirrors: tuple[str, ...] = ()) -> download.Asset:
    return download.Asset(name="test:tiny", filename="tiny.bin", mirrors=mirrors, algorithm=algorithm,
                          digest=digest or hashlib.new(algorithm, body).hexdigest(),
                          folder=lambda: tmp_path / "cache", source="TEST")


def one_line(e: BaseException) -> str:
    text = str(e)
    assert "\n" not in text and text
    return text


BODY = bytes(range(256)) * 4000     # 1 MB: several reads of the download loop


def test_a_download_is_verified_and_renamed_into_place(origin, tmp_path, monkeypatch):
    monkeypatch.delenv("ALEXNET_OFFLINE", raising=False)
    origin.files["/tiny.bin"] = BODY
    asset = tiny_asset(tmp_path, BODY, mirrors=(origin.url,))
    path = ensure_asset(asset, progress=False)
    assert path == tmp_path / "cache" / "tiny.bin" and path.read_bytes() == BODY
    assert sorted(p.name for p in path.parent.iterdir()) == ["tiny.bin"]     # no temporary or lock file
    assert ensure_asset(asset, progress=False) == path and origin.requests == ["/tiny.bin"]   # cached: no 2nd GET
    # a hash *prefix* (torch.hub's alexnet-owt-<sha256[:8]>) is checked as torch.hub checks it
    (tmp_path / "cache" / "tiny.bin").unlink()
    prefix = tiny_asset(tmp_path, BODY, mirrors=(origin.url,), digest=hashlib.sha256(BODY).hexdigest()[:8])
    assert ensure_asset(prefix, progress=False).read_bytes() == BODY


def test_a_truncated_body_leaves_nothing_and_says_so(origin, tmp_path, monkeypatch):
    monkeypatch.delenv("ALEXNET_OFFLINE", raising=False)
    origin.files["/tiny.bin"] = BODY
    origin.truncate["/tiny.bin"] = 300_000
    with pytest.raises(DownloadError) as e:
        ensure_asset(tiny_asset(tmp_path, BODY, mirrors=(origin.url,)), progress=False)
    text = one_line(e.value)
    assert f"stopped after 300000 of {len(BODY)} bytes" in text and "nothing was kept at" in text
    assert "run the command again" in text
    assert list((tmp_path / "cache").iterdir()) == []


def test_a_wrong_checksum_leaves_nothing_and_says_so(origin, tmp_path, monkeypatch):
    monkeypatch.delenv("ALEXNET_OFFLINE", raising=False)
    origin.files["/tiny.bin"] = BODY[:-1] + b"\x00"      # one byte differs from the published file
    with pytest.raises(DownloadError) as e:
        ensure_asset(tiny_asset(tmp_path, BODY, algorithm="sha1", mirrors=(origin.url,)), progress=False)
    text = one_line(e.value)
    assert f"not the published {hashlib.sha1(BODY).hexdigest()}" in text and "corrupt or changed" in text
    assert hashlib.sha1(origin.files["/tiny.bin"]).hexdigest() in text
    assert list((tmp_path / "cache").iterdir()) == []


def test_a_refused_connection_leaves_nothing_and_the_next_mirror_is_tried(origin, closed_port_url, tmp_path,
                                                                          monkeypatch):
    monkeypatch.delenv("ALEXNET_OFFLINE", raising=False)
    with pytest.raises(DownloadError) as e:
        ensure_asset(tiny_asset(tmp_path, BODY, mirrors=(closed_port_url,)), progress=False)
    text = one_line(e.value)
    assert f"could not reach {closed_port_url}tiny.bin" in text and "refused" in text.lower()
    assert list((tmp_path / "cache").iterdir()) == []
    # as torchvision's FashionMNIST does, a mirror that fails is followed by the next one
    origin.files["/tiny.bin"] = BODY
    path = ensure_asset(tiny_asset(tmp_path, BODY, mirrors=(closed_port_url, origin.url)), progress=False)
    assert path.read_bytes() == BODY


def test_offline_forbids_the_download_and_says_where_it_looked(origin, tmp_path, monkeypatch):
    origin.files["/tiny.bin"] = BODY
    monkeypatch.setenv("ALEXNET_OFFLINE", "1")
    with pytest.raises(FileNotFoundError) as e:
        ensure_asset(tiny_asset(tmp_path, BODY, mirrors=(origin.url,)), progress=False)
    text = one_line(e.value)
    assert f"looked for {tmp_path / 'cache' / 'tiny.bin'}" in text and "ALEXNET_OFFLINE=1" in text
    assert origin.requests == [] and not (tmp_path / "cache").exists()
    monkeypatch.setenv("ALEXNET_OFFLINE", "0")           # 0 means online
    assert ensure_asset(tiny_asset(tmp_path, BODY, mirrors=(origin.url,)), progress=False).is_file()


def test_the_table_holds_the_published_checksums_and_only_urls_can_be_overridden(monkeypatch, tmp_path):
    from torchvision.datasets import FashionMNIST
    tv, caffe = get_asset(TAG), get_asset("caffe:bvlc_alexnet")
    assert (tv.algorithm, tv.digest, tv.urls()) == (
        "sha256", "7be5be79", ["https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"])
    assert (caffe.algorithm, caffe.digest, caffe.urls()) == (
        "sha1", "9116a64c0fbe4459d18f4bb6b56d647b63920377",
        ["http://dl.caffe.berkeleyvision.org/bvlc_alexnet.caffemodel"])
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    assert tv.path == caffe.path.parent / "alexnet-owt-7be5be79.pth" == tmp_path / "th/hub/checkpoints" / tv.filename
    fm = [a for a in registry().values() if a.name.startswith("fashion-mnist:")]
    assert [(a.filename, a.digest) for a in fm] == list(FashionMNIST.resources)
    assert all(a.urls() == [m + a.filename for m in FashionMNIST.mirrors] for a in fm)
    monkeypatch.setenv("ALEXNET_MIRROR_TORCHVISION", "http://127.0.0.1:9/m")
    assert tv.urls() == ["http://127.0.0.1:9/m/alexnet-owt-7be5be79.pth"] and tv.digest == "7be5be79"


def test_the_weights_tags_resolve_through_the_download(origin, tmp_path, monkeypatch):
    """alexnet.weights' tag table and this one name the same files; a tag's file is downloaded on use."""
    from alexnet.weights.resolve import NAMED_ASSETS, cached_asset
    for tag, named in NAMED_ASSETS.items():
        assert registry()[tag].filename == named.file
        assert named.url in (None, registry()[tag].urls()[0]) and named.sha1 in (None, registry()[tag].digest)
    monkeypatch.delenv("ALEXNET_OFFLINE", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    monkeypatch.setenv("ALEXNET_MIRROR_CAFFE", origin.url + "caffe")
    origin.files["/caffe/bvlc_alexnet.caffemodel"] = BODY        # bytes only: the importer is tested elsewhere
    monkeypatch.setitem(registry(), "caffe:bvlc_alexnet", dataclasses.replace(
        get_asset("caffe:bvlc_alexnet"), digest=hashlib.sha1(BODY).hexdigest()))
    path = cached_asset("caffe:bvlc_alexnet")
    assert path == tmp_path / "th" / "hub" / "checkpoints" / "bvlc_alexnet.caffemodel" and path.read_bytes() == BODY


# ------------------------------------------------------------------------------------------ the CLI


@pytest.mark.slow   # ~6 s: serves, hashes and loads the 244 MB torchvision-format checkpoint
def test_predict_downloads_torchvisions_weights_on_first_use(torchvision_checkpoint, origin, tmp_path, monkeypatch,
                                                             capsys):
    monkeypatch.delenv("ALEXNET_OFFLINE", raising=False)
    home = tmp_path / "torch_home"
    monkeypatch.setenv("TORCH_HOME", str(home))
    monkeypatch.setenv("ALEXNET_MIRROR_TORCHVISION", origin.url + "models/")
    origin.files["/models/alexnet-owt-7be5be79.pth"] = torchvision_checkpoint.path
    # the fixture's random weights are not torchvision's file: the test supplies their hash prefix
    sha = hashlib.sha256(torchvision_checkpoint.path.read_bytes()).hexdigest()
    monkeypatch.setitem(registry(), TAG, dataclasses.replace(get_asset(TAG), digest=sha[:8]))
    photo = str(photos()[0])
    cached = home / "hub" / "checkpoints" / "alexnet-owt-7be5be79.pth"

    assert main(["--offline", "predict", TAG, photo, "--device", "cpu"]) == 2       # offline: an error, no GET
    err = capsys.readouterr().err
    assert f"looked for {cached}" in err and len(err.strip().splitlines()) == 1 and origin.requests == []
    assert main(["predict", TAG, photo, "--device", "cpu", "--offline"]) == 2        # after the command too
    capsys.readouterr()

    assert main(["predict", TAG, photo, "--device", "cpu", "--json"]) == 0
    assert origin.requests == ["/models/alexnet-owt-7be5be79.pth"]
    assert cached.read_bytes() == torchvision_checkpoint.path.read_bytes()
    first = capsys.readouterr().out
    assert main(["--offline", "predict", TAG, photo, "--device", "cpu", "--json"]) == 0   # now cached
    assert capsys.readouterr().out == first and len(origin.requests) == 1


def test_a_failed_download_is_one_cli_error_line(closed_port_url, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("ALEXNET_OFFLINE", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    monkeypatch.setenv("ALEXNET_MIRROR_TORCHVISION", closed_port_url)
    assert main(["predict", TAG, str(photos()[0]), "--device", "cpu"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("alexnet predict: error: torchvision:IMAGENET1K_V1: ")
    assert "could not reach" in err and "Traceback" not in err
    assert list((tmp_path / "th" / "hub" / "checkpoints").iterdir()) == []


# ------------------------------------------------------------------------------------------ Fashion-MNIST


@pytest.fixture
def fashion_mirror(origin, tmp_path, monkeypatch):
    """Tiny idx.gz files on the loopback mirror, the table's MD5s replaced by theirs, and every
    place Fashion-MNIST is otherwise looked for (the Debian path, ~, ./data) empty."""
    from alexnet.data.sources import fashion_mnist
    files = write_fashion_idx(tmp_path / "upstream", n_train=64, n_test=32)
    for asset in [a for a in registry().values() if a.name.startswith("fashion-mnist:")]:
        body = (files / asset.filename).read_bytes()
        origin.files["/fm/" + asset.filename] = body
        monkeypatch.setitem(registry(), asset.name,
                            dataclasses.replace(asset, digest=hashlib.md5(body).hexdigest()))
    monkeypatch.setenv("ALEXNET_MIRROR_FASHION_MNIST", origin.url + "fm/")
    monkeypatch.setenv("ALEXNET_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("FASHION_MNIST_DIR", raising=False)
    monkeypatch.delenv("ALEXNET_OFFLINE", raising=False)
    monkeypatch.setattr(fashion_mnist, "SYSTEM_DIR", tmp_path / "no-debian-package")
    monkeypatch.chdir(tmp_path)
    return files


def test_fashion_mnist_is_downloaded_into_the_cache_when_missing(fashion_mirror, origin, tmp_path):
    from alexnet.data.open import open_data
    from alexnet.data.sources.fashion_mnist import find_fashion_mnist
    raw = tmp_path / "cache" / "FashionMNIST" / "raw"
    opened = open_data("fashion-mnist", progress=False)
    assert len(opened.train) == 64 and len(opened.val) == 32
    assert sorted(p.name for p in raw.iterdir()) == sorted(p.name for p in fashion_mirror.iterdir())
    for p in raw.iterdir():
        assert p.read_bytes() == (fashion_mirror / p.name).read_bytes()
        assert gzip.decompress(p.read_bytes())[:2] == b"\x00\x00"      # an idx file, kept gzipped
    assert len(origin.requests) == 4
    # a cache left incomplete (an interrupted first run) is completed, not taken as it is
    (raw / "t10k-labels-idx1-ubyte.gz").unlink()
    assert find_fashion_mnist() == raw and (raw / "t10k-labels-idx1-ubyte.gz").is_file()
    assert origin.requests[4:] == ["/fm/t10k-labels-idx1-ubyte.gz"]


def test_fashion_mnist_offline_or_a_bad_mirror_says_where_it_looked(fashion_mirror, origin, tmp_path, monkeypatch,
                                                                    capsys):
    raw = tmp_path / "cache" / "FashionMNIST" / "raw"
    run = ["train", "--dataset", "fashion-mnist", "--out", str(tmp_path / "run"), "--device", "cpu"]
    assert main(["--offline", *run]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "downloads are off" in err
    assert str(tmp_path / "no-debian-package") in err and str(raw) in err and origin.requests == []
    origin.files["/fm/train-images-idx3-ubyte.gz"] = b"not the file"   # a corrupt copy on the mirror
    from alexnet.data.sources.fashion_mnist import find_fashion_mnist
    with pytest.raises(DownloadError, match="md5 .* not the published"):
        find_fashion_mnist()
    assert not raw.exists() or "train-images-idx3-ubyte.gz" not in {p.name for p in raw.iterdir()}


@pytest.mark.slow   # ~6 s: the demo's short training run and its evaluations
def test_the_demo_on_a_fresh_machine_downloads_fashion_mnist_then_trains(fashion_mirror, origin, tmp_path,
                                                                         monkeypatch, capsys):
    import json
    monkeypatch.delenv("ALEXNET_DEMO_STARTED", raising=False)
    out = tmp_path / "demo"
    rc = main(["demo", "--out", str(out), "--device", "cpu", "--profile", "cpu", "--set", "epochs=1",
               "--set", "max_steps_per_epoch=2", "--set", "batch_size=16", "--set", "workers=0", "--set", "amp=off",
               "--set", "holdout=16"])      # the demo's 5,000 held-out images do not fit the 64 of the mirror
    assert rc == 0, capsys.readouterr().err
    assert sorted(origin.requests) == sorted("/fm/" + p.name for p in fashion_mirror.iterdir())   # each file once
    report = json.loads((out / "report.json").read_text())
    assert report["test_images"] == 32 and report["steps"] == 2
