"""alexnet serve's API in-process (FastAPI's TestClient): every endpoint, the same answers as
`alexnet predict --json`, and every bad input getting a clear 4xx."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("multipart")

from fastapi.testclient import TestClient  # noqa: E402

from alexnet.cli.main import main  # noqa: E402
from alexnet.serve import Served, Settings, create_app  # noqa: E402
from alexnet.use import FeatureIndex, Predictor  # noqa: E402
from serve_fixtures import PHOTOS, jpeg, peaky_weights, pictures, png_claiming  # noqa: E402

LIMIT = 400_000     # a small body limit, so that 413 is cheap to reach


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return peaky_weights(tmp_path_factory.mktemp("serve") / "model.safetensors")


@pytest.fixture(scope="module")
def index(weights, tmp_path_factory):
    """An fc7 index of three photographs, made as `alexnet features` makes it."""
    out = tmp_path_factory.mktemp("index") / "photos.fc7.safetensors"
    assert main(["features", str(weights), str(PHOTOS / "chelsea.jpg"), str(PHOTOS / "coffee.jpg"),
                 str(PHOTOS / "rocket.jpg"), "--out", str(out), "--device", "cpu"]) == 0
    return out


@pytest.fixture(scope="module")
def client(weights, index):
    state = Served.load([weights, weights], index=index, examples=PHOTOS, patches_from=PHOTOS, device="cpu",
                        settings=Settings(max_body_bytes=LIMIT, max_files=4, max_pixels=5_000_000))
    with TestClient(create_app(state)) as c:
        yield c


def cli_predict(capsys, weights, paths, *extra) -> dict:
    capsys.readouterr()
    assert main(["predict", str(weights), *map(str, paths), "--json", "--device", "cpu", *extra]) == 0
    return json.loads(capsys.readouterr().out)


def photo_bytes(name: str) -> bytes:
    return (PHOTOS / name).read_bytes()


# -- the answers ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("views", [1, 10])
def test_predict_equals_alexnet_predict(client, weights, capsys, views):
    paths = [PHOTOS / "chelsea.jpg", PHOTOS / "rocket.jpg"]
    expected = cli_predict(capsys, weights, paths, "--views", str(views))
    files = [("file", (p.name, p.read_bytes(), "image/jpeg")) for p in paths]
    got = client.post(f"/v1/predict?views={views}", files=files).json()
    # Both run Predictor.probabilities on the same two images in one batch: equal to the bit.
    assert [r["top"] for r in got["results"]] == [r["top"] for r in expected["results"]]
    assert [r["name"] for r in got["results"]] == ["chelsea.jpg", "rocket.jpg"]
    assert got["views"] == views and got["predicted"] == 2
    raw = client.post(f"/v1/predict?views={views}", content=photo_bytes("chelsea.jpg"),
                      headers={"content-type": "image/jpeg"}).json()
    single = cli_predict(capsys, weights, paths[:1], "--views", str(views))
    assert raw["results"][0]["top"] == single["results"][0]["top"]


def test_predict_topk_example_and_model_choice(client, weights, capsys):
    expected = cli_predict(capsys, weights, [PHOTOS / "astronaut.jpg"], "--topk", "3")["results"][0]["top"]
    got = client.post("/v1/predict?example=0&topk=3&model=model-2").json()     # examples sorted: astronaut first
    assert got["results"][0]["top"] == expected and got["model"] == "model-2"
    assert got["results"][0]["name"] == "astronaut.jpg"


def test_features_equal_predictor_features(client, weights):
    got = client.post("/v1/features?layer=fc7", content=photo_bytes("coffee.jpg")).json()
    expected = Predictor(weights, "cpu").features([PHOTOS / "coffee.jpg"], "fc7")[0].tolist()
    assert got["dim"] == 4096 and got["results"][0]["vector"] == expected
    pool5 = client.post("/v1/features?layer=pool5&example=1").json()
    assert pool5["dim"] == 256    # a 67-px input leaves 1×1 pool5 maps (alexnet summary: 256×1×1)


def test_model_summary_healthz_docs(client):
    model = client.get("/v1/model").json()
    assert model["models"] == ["model", "model-2"] and model["default"] == "model"
    assert model["arch"] == "alexnet2012" and model["classes"] == [f"class{i}" for i in range(5)]
    assert model["preprocessing"]["crop"] == 67 and model["index"]["size"] == 3 and model["examples"] == 5
    health = client.get("/healthz").json()
    assert health["status"] == "ok" and set(health["models"]) == {"model", "model-2"}
    page = client.get("/")
    assert page.status_code == 200 and "/static/app.js" in page.text and "http" not in page.text.split("<body>")[0]
    assert client.get("/static/app.js").status_code == 200
    docs = client.get("/docs").text     # our own page over /openapi.json: FastAPI's loads Swagger UI from a CDN
    assert "/openapi.json" in docs and "cdn" not in docs.lower()
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/predict", "/v1/features", "/v1/model", "/healthz", "/v1/maps", "/v1/neighbours"} <= set(paths)
    assert "multipart/form-data" in paths["/v1/predict"]["post"]["requestBody"]["content"]


@pytest.mark.slow          # the first summary on PyTorch's meta device takes seconds on a 2-core host
def test_summary_is_alexnet_summary(client):
    from alexnet.models.summary import summarize
    summary = client.get("/v1/summary").json()
    conv1 = next(row for row in summary["layers"] if row["name"] == "features.conv1")
    assert conv1["output_shape"] == [96, 15, 15] and conv1["receptive_field"] == 11 and conv1["jump"] == 4
    assert summary["conv_layers"] == ["conv1", "conv2", "conv3", "conv4", "conv5"]
    assert summary["layers"] == summarize("alexnet2012", input_size=67, num_classes=5, in_channels=3)["layers"]


def test_maps_input_and_thumbnails(client, weights):
    got = client.post("/v1/maps?layer=conv2", content=photo_bytes("chelsea.jpg")).json()
    assert got["shape"] == [256, 7, 7] and len(got["maps"]) == 256
    assert all(url.startswith("data:image/png;base64,") for url in got["maps"])
    peaks = Predictor(weights, "cpu").conv_maps(PHOTOS / "chelsea.jpg", "conv2").flatten(1).max(1).values
    assert got["max"] == pytest.approx(peaks.tolist(), abs=1e-6)  # the same forward pass: rounding only
    view = client.post("/v1/input?example=1")
    assert view.status_code == 200 and view.headers["content-type"] == "image/png"
    from PIL import Image
    import io
    assert Image.open(io.BytesIO(view.content)).size == (67, 67)
    thumb = client.get("/v1/examples/1/thumbnail")
    assert thumb.headers["content-type"] == "image/jpeg"
    assert [e["name"] for e in client.get("/v1/examples").json()["examples"]] == sorted(
        p.name for p in PHOTOS.glob("*.jpg"))


def test_neighbours_are_alexnet_retrieve(client, index):
    got = client.post("/v1/neighbours?k=3", content=photo_bytes("coffee.jpg")).json()
    assert [n["name"] for n in got["neighbours"]][0] == "coffee.jpg"     # itself, at distance 0
    assert got["neighbours"][0]["distance"] == pytest.approx(0.0, abs=1e-3)  # same image, same fc7: rounding
    assert got["warning"] is None and len(got["neighbours"]) == 3
    idx = FeatureIndex.load(index)
    row = got["neighbours"][1]["row"]
    assert idx.paths[row].endswith(got["neighbours"][1]["name"])
    assert client.get(got["neighbours"][1]["thumbnail"]).status_code == 200


# -- the explain panels (alexnet.explain computes; these check the wiring) ------------------------------------
def test_deconv_occlusion_gradcam(client, weights):
    from alexnet import explain
    predictor = Predictor(weights, "cpu")
    x = predictor.preprocess([PHOTOS / "coffee.jpg"])
    got = client.post("/v1/deconv?layer=conv3&map=5", content=photo_bytes("coffee.jpg")).json()
    unit = explain.strongest_units(predictor.model, x, "conv3", [5])[0]
    assert (got["unit"]["y"], got["unit"]["x"]) == (unit[2], unit[3])
    assert got["box"] == list(explain.receptive_field(predictor.model, "conv3", 67).box(unit[2], unit[3]))
    assert got["projection"].startswith("data:image/png;base64,")
    occ = client.post("/v1/occlusion?example=2").json()        # coffee.jpg
    expected = explain.occlusion_maps(predictor.model, x)
    assert occ["target"] == expected["target"] and occ["target_class"] == f"class{expected['target']}"
    # the same forward passes, batched alike: float rounding at most
    assert occ["min_probability"] == pytest.approx(float(expected["probability"].min()), abs=1e-5)
    cam = client.post("/v1/gradcam?target=2", content=photo_bytes("coffee.jpg")).json()
    assert cam["target"] == 2 and cam["target_class"] == "class2" and cam["overlay"].startswith("data:image/png")
    assert client.post("/v1/gradcam?target=5", content=photo_bytes("coffee.jpg")).status_code == 422
    assert client.post("/v1/deconv?layer=conv1&map=96", content=photo_bytes("coffee.jpg")).status_code == 422


def test_towers_and_top_patches(client, weights):
    from alexnet import explain
    towers = client.get("/v1/towers").json()
    assert [t["kernels"] for t in towers["towers"]] == [[0, 47], [48, 95]]
    expected = explain.towers_report(Predictor(weights, "cpu").model)
    assert towers["report"]["per_tower"] == pytest.approx(expected["per_tower"], abs=1e-6)  # same numbers
    got = client.get("/v1/patches?layer=conv1&map=3").json()
    predictor = Predictor(weights, "cpu")
    photos = sorted(PHOTOS.glob("*.jpg"))
    best = explain.top_patches(predictor.model, predictor.preprocess(photos), "conv1", [3], k=9)[3]
    assert [p["name"] for p in got["patches"]] == [photos[p.image].name for p in best]
    assert [p["box"] for p in got["patches"]] == [list(p.box) for p in best]
    assert got["images"] == 5 and client.get("/v1/patches?layer=conv1&map=96").status_code == 422


# -- bad input ---------------------------------------------------------------------------------------------
BAD = [
    ("not an image", lambda: b"hello, this is text", 400, "not an image"),
    ("truncated", lambda: photo_bytes("chelsea.jpg")[:3000], 400, "truncated"),
    ("bomb header", lambda: png_claiming(8000, 8000), 400, "decompression bomb"),
    ("huge bomb header", lambda: png_claiming(40000, 40000), 400, "bomb"),
    ("empty", lambda: b"", 400, "no image"),
    ("too large", lambda: b"\xff" * (LIMIT + 1), 413, "limit"),
]


@pytest.mark.parametrize("what,body,status,words", BAD, ids=[b[0] for b in BAD])
def test_bad_bodies_get_a_clear_4xx(client, what, body, status, words):
    r = client.post("/v1/predict", content=body())
    assert r.status_code == status, r.text
    assert words in r.json()["detail"]


def test_bad_multipart_and_streamed_bodies(client):
    r = client.post("/v1/predict", files=[("image", ("a.jpg", photo_bytes("chelsea.jpg")))])
    assert r.status_code == 400 and "no field 'file'" in r.json()["detail"]
    r = client.post("/v1/predict", files=[("file", ("x.jpg", jpeg(p))) for p in pictures(5)])
    assert r.status_code == 400 and "multipart" in r.json()["detail"]          # max_files=4
    r = client.post("/v1/predict", files=[("file", ("ok.jpg", jpeg(pictures(1)[0]))), ("file", ("bad.jpg", b"xx"))])
    assert r.status_code == 400 and r.json()["detail"].startswith("bad.jpg:")

    def chunks():   # no Content-Length: the limit is counted as the body streams in
        for _ in range(10):
            yield b"\0" * (LIMIT // 5)
    r = client.post("/v1/predict", content=chunks())
    assert r.status_code == 413


@pytest.mark.parametrize("url,status,words", [
    ("/v1/predict?views=3", 422, "views must be 1"),
    ("/v1/predict?topk=0", 422, ""),
    ("/v1/predict?model=nope", 404, "no model 'nope'"),
    ("/v1/predict?example=99", 404, "no example 99"),
    ("/v1/predict?example=-1", 422, ""),
    ("/v1/predict?example=../../etc/passwd", 422, ""),
    ("/v1/features?layer=conv9", 422, "unknown feature layer"),
    ("/v1/maps?layer=fc7", 422, "unknown conv layer"),
])
def test_bad_parameters(client, url, status, words):
    r = client.post(url, content=photo_bytes("chelsea.jpg"))
    assert r.status_code == status, r.text
    assert words in json.dumps(r.json()["detail"])


def test_no_request_names_a_server_file(client):
    assert client.get("/static/../pyproject.toml").status_code == 404
    assert client.get("/static/%2e%2e/app.py").status_code == 404
    assert client.get("/v1/index/3/thumbnail").status_code == 404       # 3 rows: 0, 1, 2
    assert client.get("/v1/index/..%2f..%2fetc/thumbnail").status_code in (404, 422)
    assert client.get("/v1/examples/5/thumbnail").status_code == 404
    r = client.post("/v1/maps", files=[("file", ("a.jpg", photo_bytes("chelsea.jpg")))] * 2)
    assert r.status_code == 400 and "one image" in r.json()["detail"]


def test_neighbours_without_index(weights):
    with TestClient(create_app(Served.load([weights], device="cpu"))) as c:
        r = c.post("/v1/neighbours", content=photo_bytes("chelsea.jpg"))
        assert r.status_code == 404 and "--index" in r.json()["detail"]
        assert c.get("/v1/examples").json() == {"examples": []}
        assert c.get("/v1/patches?layer=conv1&map=0").status_code == 404


@pytest.mark.slow
def test_torchvision_checkpoint_is_served_as_alexnet_predict(torchvision_checkpoint, capsys):
    path = torchvision_checkpoint.path
    expected = cli_predict(capsys, path, [PHOTOS / "hubble.jpg"])
    with TestClient(create_app(Served.load([path], device="cpu"))) as c:
        got = c.post("/v1/predict", files=[("file", ("hubble.jpg", photo_bytes("hubble.jpg")))]).json()
        model = c.get("/v1/model").json()
    assert got["results"][0]["top"] == expected["results"][0]["top"]
    assert model["arch"] == "alexnet_owt" and model["num_classes"] == 1000 and model["id"] == "alexnet-owt-7be5be79"


@pytest.mark.slow          # its own server: Captum's first import and a deconvnet pass take seconds here
def test_grey_net_like_the_demo(tmp_path, capsys):
    """A 1-channel net (the Fashion-MNIST demo's kind): colour uploads are read grey, as `alexnet predict` reads
    them, and the page's pictures come out grey; conv1's towers say that grey kernels have no colour."""
    from test_use_predict import small_weights
    weights = small_weights(tmp_path / "grey.safetensors", channels=1)
    expected = cli_predict(capsys, weights, [PHOTOS / "rocket.jpg"])
    with TestClient(create_app(Served.load([weights], device="cpu"))) as c:
        got = c.post("/v1/predict", content=photo_bytes("rocket.jpg")).json()
        assert got["results"][0]["top"] == expected["results"][0]["top"]
        from PIL import Image
        import io
        assert Image.open(io.BytesIO(c.post("/v1/input", content=photo_bytes("rocket.jpg")).content)).mode == "L"
        towers = c.get("/v1/towers").json()
        assert towers["report"]["per_tower"] is None and "grey kernels have no colour" in towers["report"]["message"]
        assert c.post("/v1/deconv?layer=conv1&map=0", content=photo_bytes("rocket.jpg")).status_code == 200
