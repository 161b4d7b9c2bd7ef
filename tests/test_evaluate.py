"""Evaluation numbers against direct computations: metrics, view averaging, ensembles, confusion matrix.
(The view functions themselves are pinned in test_data_views.py.)"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from alexnet.data.views import Preprocessing, make_view_fn
from alexnet.device import Precision
from alexnet.evaluate import (RunningErrors, confusion_matrix, evaluate_model, per_class_accuracy, predict_probs,
                              topk_hits)
from alexnet.evaluate.run import iter_log_probs

STORED, CROP, CLASSES = 8, 6, 7


def tiny_model(seed: int, channels: int = 1, side: int = CROP, classes: int = CLASSES) -> nn.Module:
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Flatten(), nn.Linear(channels * side * side, classes))
    with torch.no_grad():
        model[1].weight.normal_(0, 0.05)
        model[1].bias.normal_(0, 0.5)
    return model


def batches(n: int = 23, batch: int = 5, channels: int = 1, side: int = STORED, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, channels, side, side), dtype=torch.uint8, generator=g)
    labels = torch.randint(0, CLASSES, (n,), generator=g)
    return [(images[i:i + batch], labels[i:i + batch]) for i in range(0, n, batch)], images, labels


PRE = {"crop": CROP, "channels": 1, "pixel_scale": 1.0, "mean": None, "std": None}


def view_fn_from_preprocessing(pre: dict, mean_image, views: int = 1, stored_size: int = STORED):
    return make_view_fn(Preprocessing.from_dict({"stored_size": stored_size, "resize": stored_size, **pre}),
                        mean_image, views=views)


def centre(x: torch.Tensor, crop: int = CROP) -> torch.Tensor:
    o = (x.shape[-1] - crop) // 2
    return x[..., o:o + crop, o:o + crop]


def ten_by_hand(x: torch.Tensor, crop: int = CROP) -> list[torch.Tensor]:
    s = x.shape[-1]
    e = s - crop
    crops = [x[..., :crop, :crop], x[..., :crop, e:], x[..., e:, :crop], x[..., e:, e:], centre(x, crop)]
    return crops + [c.flip(-1) for c in crops]


# ---------------------------------------------------------------- metrics on hand-made tables


def topk_error(scores, labels, k):
    (hits,) = topk_hits(scores, labels, (k,))
    return 1.0 - hits.item() / scores.shape[0]


def test_topk_error_on_a_table_with_known_ranks():
    # Row i ranks the classes by the scores; the label sits at a known rank in each row.
    probs = torch.tensor([[0.5, 0.2, 0.1, 0.1, 0.05, 0.05],   # label 0: rank 1
                          [0.5, 0.2, 0.1, 0.09, 0.06, 0.05],  # label 1: rank 2
                          [0.5, 0.2, 0.1, 0.09, 0.06, 0.05],  # label 4: rank 5
                          [0.5, 0.2, 0.1, 0.09, 0.06, 0.05]])  # label 5: rank 6
    labels = torch.tensor([0, 1, 4, 5])
    # quarters are exact in float32 and float64; approx only guards the conversion
    assert topk_error(probs, labels, 1) == pytest.approx(3 / 4)
    assert topk_error(probs, labels, 2) == pytest.approx(2 / 4)
    assert topk_error(probs, labels, 5) == pytest.approx(1 / 4)
    assert topk_error(probs, labels, 6) == pytest.approx(0.0)
    assert topk_error(probs, labels, 50) == pytest.approx(0.0)  # k beyond K: everything is in the top k


def test_running_metrics_equal_whole_table_metrics():
    g = torch.Generator().manual_seed(1)
    probs = torch.rand(40, 9, generator=g).softmax(dim=1)
    labels = torch.randint(0, 9, (40,), generator=g)
    running = RunningErrors()
    for i in range(0, 40, 7):
        running.update(probs[i:i + 7].log(), labels[i:i + 7])
    r = running.result()
    assert r["num_images"] == 40
    # counts over 40 either way (approx: float32 vs float64 division); the loss summed in batches of 7 vs
    # one float32 mean: ~1e-7 of ~2.2
    assert r["top1_error"] == pytest.approx(topk_error(probs, labels, 1))
    assert r["top5_error"] == pytest.approx(topk_error(probs, labels, 5))
    assert r["loss"] == pytest.approx(F.nll_loss(probs.log(), labels).item(), rel=1e-5)


def test_confusion_matrix_and_per_class_accuracy_against_a_direct_count():
    g = torch.Generator().manual_seed(2)
    pred = torch.randint(0, 4, (200,), generator=g)
    labels = torch.randint(0, 3, (200,), generator=g)  # class 3 has no images
    cm = confusion_matrix(pred, labels, 4)
    assert cm.dtype == torch.int64 and cm.shape == (4, 4)
    for t in range(4):
        for p in range(4):
            assert cm[t, p] == sum(1 for a, b in zip(labels.tolist(), pred.tolist()) if a == t and b == p)
    acc = per_class_accuracy(cm)
    for t in range(3):
        mine = labels == t
        assert acc[t].item() == pytest.approx((pred[mine] == t).float().mean().item())  # float32 vs float64 division
    assert math.isnan(acc[3].item())
    with pytest.raises(ValueError, match="outside"):
        confusion_matrix(torch.tensor([5]), torch.tensor([0]), 4)


def test_evaluate_model_equals_a_direct_computation_and_restores_train_mode():
    model = tiny_model(0)
    model.train()
    loader, images, labels = batches()
    fn = view_fn_from_preprocessing(PRE, None, views=1, stored_size=STORED)
    result = evaluate_model(model, loader, fn, device="cpu", progress=False)
    assert model.training
    with torch.no_grad():
        logits = model(centre(images.float() / 255))
    probs = logits.softmax(1)
    assert result["num_images"] == len(labels)
    # counts over 23 (approx: float32 vs float64 division); the loss from batches of 5 vs one batch of 23
    # (gemm may block them differently): ~1e-7 of ~2
    assert result["top1_error"] == pytest.approx((logits.argmax(1) != labels).float().mean().item())
    assert result["top5_error"] == pytest.approx(topk_error(probs, labels, 5))
    assert result["loss"] == pytest.approx(F.cross_entropy(logits, labels).item(), rel=1e-5)


def test_ten_view_probabilities_are_the_mean_of_the_ten_softmaxes():
    model = tiny_model(1)
    loader, images, labels = batches()
    fn = view_fn_from_preprocessing(PRE, None, views=10, stored_size=STORED)
    probs, got_labels = predict_probs(model, loader, fn, device="cpu", progress=False)
    with torch.no_grad():
        expected = torch.stack([model(v).softmax(1) for v in ten_by_hand(images.float() / 255)]).mean(0)
    torch.testing.assert_close(probs, expected)   # float32 default (rtol 1.3e-6): other batches, a few ulps
    assert torch.equal(got_labels, labels)
    # and it differs from the centre crop alone (the views matter)
    one = view_fn_from_preprocessing(PRE, None, views=1, stored_size=STORED)
    centre_probs, _ = predict_probs(model, loader, one, device="cpu", progress=False)
    assert not torch.allclose(centre_probs, probs)   # they differ by up to 0.04, allclose allows 1e-5


def test_ten_views_of_a_whole_image_run_two_and_average_the_same():
    # crop = the stored side (Fashion-MNIST seen whole): the 10 views are 5 copies of the image and 5
    # of its mirror, so 2 forward passes give the 10-view average
    from alexnet.evaluate.run import distinct_views
    loader, images, _ = batches()
    fn = view_fn_from_preprocessing({**PRE, "crop": STORED}, None, views=10, stored_size=STORED)
    ten = fn(images)
    two = distinct_views(ten, fn)
    assert two.shape[0] == 2 and torch.equal(two[0], ten[0]) and torch.equal(two[1], images.float().flip(-1) / 255)
    model = tiny_model(2, side=STORED)
    probs, _ = predict_probs(model, loader, fn, device="cpu", progress=False)
    with torch.no_grad():
        expected = torch.stack([model(v).softmax(1) for v in ten]).mean(0)     # all 10, by hand
    torch.testing.assert_close(probs, expected)   # float32 default (rtol 1.3e-6): sums in another order
    # views that differ (crop < side) are all kept
    cropped = view_fn_from_preprocessing(PRE, None, views=10)
    assert distinct_views(cropped(images), cropped).shape[0] == 10
    counted = []
    model_counting = nn.Sequential(model)
    model_counting.register_forward_hook(lambda m, i, o: counted.append(i[0].shape[0]))
    predict_probs(model_counting, loader[:1], fn, device="cpu", progress=False)
    assert counted == [2 * loader[0][0].shape[0]]          # one pass of 2 views, not 10


def test_ensemble_of_one_equals_the_model_and_of_two_the_mean():
    a, b = tiny_model(2), tiny_model(3)
    loader, _, _ = batches()
    fn = view_fn_from_preprocessing(PRE, None, views=10, stored_size=STORED)
    pa, _ = predict_probs(a, loader, fn, device="cpu", progress=False)
    pb, _ = predict_probs(b, loader, fn, device="cpu", progress=False)
    p1, _ = predict_probs([a], loader, fn, device="cpu", progress=False)
    p2, _ = predict_probs([a, b], loader, fn, device="cpu", progress=False)
    torch.testing.assert_close(p1, pa, rtol=0, atol=0)      # the same model on the same batches
    torch.testing.assert_close(p2, (pa + pb) / 2)           # float32 default: the mean's rounding, ~3e-8
    assert not torch.allclose(pa, pb)                       # two nets: up to 0.24 apart


def test_ensemble_members_may_have_their_own_preprocessing():
    grey, rgb = tiny_model(4, channels=1), tiny_model(5, channels=3)
    loader, images, _ = batches()
    fn_grey = view_fn_from_preprocessing(PRE, None, stored_size=STORED)
    fn_rgb = view_fn_from_preprocessing({**PRE, "channels": 3, "pixel_scale": 255}, None, stored_size=STORED)
    probs, _ = predict_probs([grey, rgb], loader, [fn_grey, fn_rgb], device="cpu", progress=False)
    x = centre(images.float())
    with torch.no_grad():
        expected = (grey(x / 255).softmax(1) + rgb(x.expand(-1, 3, -1, -1)).softmax(1)) / 2
    torch.testing.assert_close(probs, expected)   # float32 default (rtol 1.3e-6): other batches, a few ulps


def test_bf16_autocast_path_stays_close_to_float32():
    model = tiny_model(6)
    loader, _, _ = batches()
    fn = view_fn_from_preprocessing(PRE, None, views=10, stored_size=STORED)
    p32, _ = predict_probs(model, loader, fn, device="cpu", progress=False)
    p16, _ = predict_probs(model, loader, fn, device="cpu", precision=Precision(torch.bfloat16), progress=False)
    assert p16.dtype == torch.float32
    # bf16 rounds inputs and weights to 8 bits (0.4 %): probabilities of ~0.15 moved by ≤ 1.3e-4 here;
    # the centre crop instead of the 10 views would move them by 0.04
    torch.testing.assert_close(p16, p32, atol=2e-3, rtol=0)
    assert not torch.equal(p16, p32)                        # autocast did run


def test_bad_view_function_and_empty_loader_are_reported():
    model = tiny_model(7)
    loader, _, _ = batches()
    with pytest.raises(ValueError, match=r"\(V, B, C, h, w\)"):
        predict_probs(model, loader, lambda x: centre(x.float()), device="cpu", progress=False)
    fn = view_fn_from_preprocessing(PRE, None, stored_size=STORED)
    with pytest.raises(ValueError, match="no images"):
        evaluate_model(model, [], fn, device="cpu", progress=False)


def test_a_failing_batch_leaves_train_mode_and_autograd_as_they_were():
    model = tiny_model(8).train()
    loader, _, _ = batches()
    fn = view_fn_from_preprocessing(PRE, None, stored_size=STORED)
    calls = []

    def failing(images):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("boom")
        return fn(images)

    with pytest.raises(RuntimeError, match="boom"):
        evaluate_model(model, loader, failing, device="cpu", progress=False)
    assert model.training
    assert not torch.is_inference_mode_enabled() and torch.is_grad_enabled()


def test_autograd_is_on_in_the_callers_code_between_batches():
    model = tiny_model(9).train()
    loader, _, _ = batches()
    fn = view_fn_from_preprocessing(PRE, None, stored_size=STORED)
    it = iter_log_probs(model, loader, fn, "cpu", None, False, "test")
    log_probs, _ = next(it)
    assert torch.is_grad_enabled() and not torch.is_inference_mode_enabled()
    assert not model.training  # evaluating
    it.close()
    assert model.training      # restored once the batches are closed
