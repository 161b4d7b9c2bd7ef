"""alexnet serve under many simultaneous requests, in-process (httpx over ASGI): each request gets
its own answer, batches really form, a full queue answers 503 with Retry-After, a slow answer 504,
and bad uploads among good ones harm nobody."""

from __future__ import annotations

import asyncio
import io
import threading

import pytest
import torch
from PIL import Image

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")

from alexnet.serve import Served, Settings, create_app  # noqa: E402
from alexnet.serve.batching import Batcher, Busy, Compute  # noqa: E402
from alexnet.use import Predictor  # noqa: E402
from serve_fixtures import jpeg, peaky_weights, pictures  # noqa: E402


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return peaky_weights(tmp_path_factory.mktemp("serve") / "model.safetensors")


def as_sent(data: bytes) -> Image.Image:
    """The picture as the server decodes it (after the JPEG round trip)."""
    return Image.open(io.BytesIO(data))


async def with_client(state: Served, body):
    """Run ``body(client)`` against the app with its batchers started (httpx's ASGI transport runs no lifespan)."""
    await state.start()
    try:
        transport = httpx.ASGITransport(app=create_app(state))
        async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=60) as client:
            return await body(client)
    finally:
        await state.stop()


def test_simultaneous_requests_each_get_their_own_answer(weights):
    images = pictures(6)
    reference = Predictor(weights, "cpu").probabilities(images)          # one image per row, as predict
    gaps = torch.cdist(reference, reference) + torch.eye(len(images))
    assert gaps.min() > 0.1          # the pictures' answers differ clearly, so a swapped row would show
    state = Served.load([weights], device="cpu", settings=Settings(max_batch=8, max_wait_ms=20))
    # 30 requests: single images and pairs, in a scrambled order, all sent at once.
    jobs = [[i % 6] if i % 3 else [i % 6, (i + 2) % 6] for i in range(30)]
    encoded = [jpeg(im) for im in images]

    async def body(client):
        async def one(job):
            files = [("file", (f"{j}.jpg", encoded[j], "image/jpeg")) for j in job]
            return (await client.post("/v1/predict", files=files)).json()
        return await asyncio.gather(*(one(job) for job in jobs))

    answers = asyncio.run(with_client(state, body))
    decoded = Predictor(weights, "cpu").probabilities([as_sent(e) for e in encoded])
    for job, answer in zip(jobs, answers):
        assert [r["name"] for r in answer["results"]] == [f"{j}.jpg" for j in job]
        for j, result in zip(job, answer["results"]):
            got = {t["class"]: t["probability"] for t in result["top"]}
            got = torch.tensor([got[f"class{c}"] for c in range(5)])
            # Rows computed in batches of other sizes differ from a batch of one by float rounding
            # (different matrix-multiply blocking): ≤ 1e-5 here; another image's row is ≥ 0.1 away.
            assert torch.allclose(got, decoded[j], atol=1e-5), (job, j)
    batcher = state.nets["model"].predict_batcher
    assert batcher.images == sum(len(job) for job in jobs)
    assert batcher.batches < len(jobs)        # requests did share forward passes


def _blocking(state: Served):
    """Make the net's forward pass wait for the returned event (a stand-in for a slow net)."""
    release = threading.Event()
    batcher = state.nets["model"].predict_batcher
    run = batcher.run

    def slow(key, images):
        release.wait(30)
        return run(key, images)

    batcher.run = slow
    return release


def test_full_queue_answers_503_with_retry_after(weights):
    state = Served.load([weights], device="cpu", settings=Settings(max_batch=1, queue_size=2))
    release = _blocking(state)
    body_bytes = jpeg(pictures(1)[0])

    async def body(client):
        tasks = [asyncio.create_task(client.post("/v1/predict", content=body_bytes)) for _ in range(8)]
        for _ in range(200):          # the refused ones answer at once; the others wait for the net
            if sum(t.done() for t in tasks) >= 5:
                break
            await asyncio.sleep(0.05)
        refused = [t.result() for t in tasks if t.done()]
        release.set()
        return refused, await asyncio.gather(*tasks)

    refused, answers = asyncio.run(with_client(state, body))
    assert len(refused) >= 5 and all(r.status_code == 503 for r in refused)
    assert all(r.headers["retry-after"] == "1" and "busy" in r.json()["detail"] for r in refused)
    ok = [r for r in answers if r.status_code == 200]
    assert 1 <= len(ok) <= 3          # one in the net + at most queue_size waiting
    assert len(ok) + sum(r.status_code == 503 for r in answers) == 8


def test_slow_answer_times_out_with_504_and_is_not_computed_later(weights):
    state = Served.load([weights], device="cpu", settings=Settings(max_batch=1, timeout_s=0.3))
    release = _blocking(state)
    body_bytes = jpeg(pictures(1)[0])

    async def body(client):
        first = await client.post("/v1/predict", content=body_bytes)
        release.set()
        second = await client.post("/v1/predict", content=body_bytes)
        return first, second

    first, second = asyncio.run(with_client(state, body))
    assert first.status_code == 504 and "0.3 s" in first.json()["detail"]
    assert second.status_code == 200


def test_bad_uploads_among_good_ones_harm_nobody(weights):
    state = Served.load([weights], device="cpu", settings=Settings(max_batch=8))
    images = pictures(4)
    expected = Predictor(weights, "cpu").predict([as_sent(jpeg(im)) for im in images])
    bad = [b"junk", jpeg(images[0])[:500], b""]

    async def body(client):
        good = [client.post("/v1/predict", content=jpeg(images[i % 4])) for i in range(12)]
        worse = [client.post("/v1/predict", content=bad[i % 3]) for i in range(12)]
        return await asyncio.gather(*good), await asyncio.gather(*worse)

    good, worse = asyncio.run(with_client(state, body))
    assert all(r.status_code == 400 for r in worse)
    for i, r in enumerate(good):
        top = [(t["class"], t["probability"]) for t in r.json()["results"][0]["top"]]
        assert [c for c, _ in top] == [c for c, _ in expected[i % 4]]
        # float rounding between batch sizes only (see the test above)
        assert [p for _, p in top] == pytest.approx([p for _, p in expected[i % 4]], abs=1e-5)


def test_batcher_caps_batches_and_keeps_order():
    seen: list[int] = []

    def run(key, items):
        seen.append(len(items))
        return torch.tensor([[float(x) * key] for x in items])

    async def main():
        compute = Compute()
        batcher = Batcher(run, compute, max_batch=4, max_wait_s=0.05, queue_size=100)
        batcher.start()
        try:
            jobs = [batcher.submit(key=1 + i // 10, images=list(range(i, i + 1 + i % 3)), timeout_s=10) for i in range(20)]
            return await asyncio.gather(*jobs)
        finally:
            await batcher.stop()
            compute.shutdown()

    results = asyncio.run(main())
    for i, rows in enumerate(results):
        assert rows[:, 0].tolist() == [float(x) * (1 + i // 10) for x in range(i, i + 1 + i % 3)]
    assert max(seen) <= 4 and len(seen) < 20     # 39 images in calls of at most 4, and fewer calls than jobs


def test_batcher_refuses_when_full_and_answers_queued_jobs_on_stop():
    release = threading.Event()

    async def main():
        compute = Compute()
        batcher = Batcher(lambda k, items: (release.wait(10), torch.zeros(len(items), 1))[1], compute,
                          max_batch=1, max_wait_s=0, queue_size=1)
        batcher.start()
        first = asyncio.create_task(batcher.submit(0, [1], 10))
        await asyncio.sleep(0.1)                      # the first is in the net now
        second = asyncio.create_task(batcher.submit(0, [2], 10))
        await asyncio.sleep(0.05)
        with pytest.raises(Busy):
            await batcher.submit(0, [3], 10)          # the queue (1) is full
        await batcher.stop()                          # shutting down: the queued one hears 503
        with pytest.raises(Busy, match="shutting down"):
            await second
        release.set()
        compute.shutdown()
        first.cancel()

    asyncio.run(main())
