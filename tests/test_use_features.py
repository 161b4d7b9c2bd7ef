"""alexnet.use: fc7/fc6/pool5 features, the feature index, retrieval, `alexnet features`/`retrieve`."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from alexnet.cli.main import main
from alexnet.models import alexnet2012
from alexnet.use import FeatureIndex, Predictor, layer_output
from alexnet.use.retrieve import FAISS_MIN_ROWS
from alexnet.weights import save_weights

PRE = {"resize": 73, "crop": 67, "channels": 3, "pixel_scale": 255.0, "mean": None, "std": None,
       "mean_image": True}


@pytest.fixture
def weights(tmp_path):
    torch.manual_seed(0)
    model = alexnet2012(num_classes=4, input_size=67)
    path = tmp_path / "model.safetensors"
    save_weights(path, model, class_names=list("abcd"), preprocessing=PRE,
                 extra_tensors={"mean_image": torch.full((3, 73, 73), 120.0)})
    return path


def blob(seed: int, size=(90, 80)) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


def test_pool5_feeds_fc6_fc6_feeds_fc7_and_fc7_through_fc8_gives_the_nets_logits(weights):
    """The three vectors chain as the paper's layers do: fc6 = ReLU(fc6 layer(pool5)), fc7 =
    ReLU(fc7 layer(fc6)), and fc8 of fc7 is the net's own forward output (a different code path)."""
    predictor = Predictor(weights, device="cpu")
    model = predictor.model
    x = predictor.preprocess([blob(i) for i in range(3)])
    pool5, fc6, fc7 = (predictor.features(x, layer=layer) for layer in ("pool5", "fc6", "fc7"))
    c, side, _ = model.pool5_shape
    assert pool5.shape == (3, c * side * side) == (3, model.pre_logits.fc6.in_features)
    assert fc6.shape == fc7.shape == (3, 4096)
    assert (pool5 >= 0).all() and (fc6 >= 0).all() and (fc7 >= 0).all()      # after the ReLUs
    assert (fc7 > 0).any() and (fc7 == 0).any()                               # ... which did cut something
    with torch.inference_mode():
        logits = model(x)
        # the same float32 products on the same batch; MKL's gemm may take another blocking for a
        # copied operand, so a few ulps of values ~1 (float32 ulp 1.2e-7)
        torch.testing.assert_close(fc6, torch.relu(model.pre_logits.fc6(pool5)), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(fc7, torch.relu(model.pre_logits.fc7(fc6)), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(model.fc8(fc7), logits, rtol=1e-5, atol=1e-5)
    # eval mode, dropout off: in train mode the same call drops half the fc6 and fc7 units
    assert not model.training
    model.train()
    with torch.inference_mode():
        dropped = layer_output(model, x, "fc7")
    model.eval()
    assert not torch.allclose(dropped, fc7, atol=1e-3)   # dropped units differ by ~1, kept ones double
    with pytest.raises(ValueError, match="unknown feature layer"):
        layer_output(model, x, "fc9")


def test_exact_search_finds_hand_made_neighbours():
    # Points on a line: distances from a query are obvious.
    feats = torch.tensor([[0.0, 0, 0], [1, 0, 0], [3, 0, 0], [10, 0, 0], [0, 2.5, 0]])
    index = FeatureIndex(feats, [f"p{i}" for i in range(5)])
    d, i = index.search(torch.tensor([[0.9, 0, 0], [9, 0, 0]]), k=3, backend="exact")
    assert i.tolist() == [[1, 0, 2], [3, 2, 1]]
    # float32 rounding of 0.9 and of the square root: ~1e-7
    assert torch.allclose(d, torch.tensor([[0.1, 0.9, 2.1], [1.0, 6.0, 8.0]]), atol=1e-6)
    assert index.search(torch.zeros(3), k=99)[1].shape == (1, 5)  # k capped at the index size
    with pytest.raises(ValueError, match="dimensions"):
        index.search(torch.zeros(1, 4))


def test_exact_search_across_chunks(monkeypatch):
    import alexnet.use.retrieve as retrieve
    monkeypatch.setattr(retrieve, "_CHUNK", 7)  # force several blocks and the running top-k merge
    g = torch.Generator().manual_seed(0)
    feats, queries = torch.randn(50, 16, generator=g), torch.randn(4, 16, generator=g)
    d, i = FeatureIndex(feats, [str(n) for n in range(50)]).search(queries, k=6, backend="exact")
    brute = ((queries[:, None] - feats[None]) ** 2).sum(-1).sqrt()
    ref_d, ref_i = brute.topk(6, largest=False)
    # the same differences summed in another order (cdist vs broadcasting): ~1e-6 on distances ~5
    assert torch.equal(i, ref_i) and torch.allclose(d, ref_d, atol=1e-5)


def test_faiss_gives_the_same_neighbours():
    pytest.importorskip("faiss")
    g = torch.Generator().manual_seed(1)
    feats, queries = torch.randn(300, 64, generator=g), torch.randn(5, 64, generator=g)
    index = FeatureIndex(feats, [str(n) for n in range(300)])
    d_exact, i_exact = index.search(queries, k=8, backend="exact")
    d_faiss, i_faiss = index.search(queries, k=8, backend="faiss")
    # faiss takes ‖q‖² + ‖x‖² − 2q·x in float32 (squared distances ~80): ~1e-6 on distances ~9
    assert torch.equal(i_exact, i_faiss) and torch.allclose(d_exact, d_faiss, atol=1e-4)
    assert index.resolve_backend("auto") == "exact"  # small index
    big = FeatureIndex(torch.zeros(FAISS_MIN_ROWS, 1), [""] * FAISS_MIN_ROWS)
    assert big.resolve_backend("auto") == "faiss"


def test_index_file_round_trip_and_errors(tmp_path):
    index = FeatureIndex(torch.arange(6.0).view(3, 2), ["a.png", "b.png", "c.png"], layer="fc6", weights="w")
    loaded = FeatureIndex.load(index.save(tmp_path / "idx.safetensors"))
    assert torch.equal(loaded.features, index.features) and loaded.paths == index.paths
    assert loaded.layer == "fc6" and loaded.weights == "w"
    with pytest.raises(ValueError, match="paths for"):
        FeatureIndex(torch.zeros(2, 3), ["only one"])
    with pytest.raises(FileNotFoundError, match="alexnet features"):
        FeatureIndex.load(tmp_path / "none.safetensors")


def test_cli_features_then_retrieve(weights, tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    for n in range(5):
        blob(n).save(data / f"img{n}.png")
    (data / "bad.png").write_bytes(b"not a png")
    out = tmp_path / "index.safetensors"
    assert main(["features", str(weights), str(data), "--out", str(out), "--batch-size", "2", "--device", "cpu"]) == 0
    captured = capsys.readouterr()
    assert "bad.png" in captured.err and "5 × 4096 fc7" in captured.out
    index = FeatureIndex.load(out)
    assert [p.split("/")[-1] for p in index.paths] == [f"img{n}.png" for n in range(5)]
    expected = Predictor(weights, device="cpu").features(index.paths)
    # Extracted in batches of 2, expected in one batch of 5: the CPU's convolution kernels take other
    # paths for other batch sizes (values ~1 agreed to ~1e-4 on an AMD EPYC, exactly on some Intel CPUs).
    torch.testing.assert_close(index.features, expected, rtol=1e-3, atol=1e-3)
    log = [json.loads(line) for line in (tmp_path / "index.safetensors.log.jsonl").read_text().splitlines()]
    assert log[-1]["done"] == 6 and log[-1]["failed"] == 1

    png = tmp_path / "retrieval.png"
    code = main(["retrieve", str(weights), str(data / "img3.png"), str(data / "img1.png"), "--index", str(out),
                 "--k", "3", "--json", "--png", str(png), "--device", "cpu"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and doc["backend"] == "exact"
    first = doc["results"][0]["neighbours"]
    # the query is the indexed picture itself, extracted in another batch: fc7 coordinates (~1) may
    # differ by ~1e-4 (see above), ≤ 0.0064 over 4096 of them; the other pictures lie ≥ 1.6 away
    assert first[0]["path"].endswith("img3.png") and first[0]["distance"] == pytest.approx(0, abs=0.02)
    assert first[1]["distance"] > 1.0
    assert [n["distance"] for n in first] == sorted(n["distance"] for n in first)
    with Image.open(png) as im:
        assert im.size == (160 * 4, 180 * 2)


def test_cli_retrieve_rejects_a_foreign_index_layer(weights, tmp_path, capsys):
    FeatureIndex(torch.zeros(2, 10), ["x", "y"]).save(tmp_path / "idx.safetensors")
    blob(0).save(tmp_path / "q.png")
    assert main(["retrieve", str(weights), str(tmp_path / "q.png"), "--index", str(tmp_path / "idx.safetensors"),
                 "--device", "cpu"]) == 2
    assert "dimensions" in capsys.readouterr().err
