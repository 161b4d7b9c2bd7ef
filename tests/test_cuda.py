"""What only a GPU can show, checked on one (``pytest -m cuda``; benchmarks/gpu_check.py runs it):
nvJPEG decoding on the side stream, the trainer's bf16/channels_last step, the compiled LRN."""

import pytest
import torch

import data_fixtures as fx
from alexnet.data.loader import StoreLoader

pytestmark = pytest.mark.cuda


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return fx.small_store(tmp_path_factory.mktemp("cuda"))


def test_gpu_decode_gives_the_cpu_batches_in_order(store):
    gpu = StoreLoader(store, 4, seed=1, workers=2, device="cuda")
    cpu = StoreLoader(store, 4, seed=1, workers=2, decoder="pil")
    assert gpu.decode_device == "cuda"
    for (xg, yg), (xc, yc) in zip(gpu, cpu):
        assert xg.is_cuda and torch.equal(yg.cpu(), yc)
        # nvJPEG and libjpeg-turbo may round an IDCT or upsampling step differently: a level or two
        diff = (xg.cpu().int() - xc.int()).abs()
        assert diff.float().mean() < 0.5 and diff.max() <= 8


def test_decoded_batches_survive_work_queued_on_the_callers_stream(store):
    """The handed-over batch is ordered on the caller's stream (event + record_stream): reading it
    after heavy queued work and a new decode on the side stream still gives its own pixels."""
    loader = StoreLoader(store, 4, seed=2, workers=2, device="cuda")
    ref = [x.cpu() for x, _ in StoreLoader(store, 4, seed=2, workers=2, device="cuda")]
    a = torch.randn(4096, 4096, device="cuda")
    for i, (x, _) in enumerate(loader):
        for _ in range(5):
            a = a @ a / 64                       # keep the caller's stream busy while the next decode runs
        assert torch.equal(x.cpu(), ref[i])


def test_train_step_bf16_channels_last_and_the_compiled_lrn_on_cuda():
    from alexnet.models import LocalResponseNorm, create
    from alexnet.train.loop import train_step
    torch.manual_seed(0)
    model = create("alexnet2012", num_classes=10, input_size=224).cuda().to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x, y = torch.randn(8, 3, 224, 224, device="cuda"), torch.randint(0, 10, (8,), device="cuda")
    r = train_step(model, x, y, opt, lambda t, generator=None: t, amp_dtype=torch.bfloat16, channels_last=True)
    assert torch.isfinite(r.loss)
    lrn = LocalResponseNorm(groups=2)
    a = (torch.rand(4, 96, 27, 27, device="cuda") * 20).requires_grad_()
    eager = lrn(a)
    eager.sum().backward()
    g_eager = a.grad.clone()
    a.grad = None
    compiled = torch.compile(lrn)(a)
    compiled.sum().backward()
    torch.testing.assert_close(compiled, eager, rtol=1e-5, atol=1e-5)   # fused kernels: float32 rounding
    # the backward's power and division fused too: a few ulps more on gradients of ~1e-2..1
    torch.testing.assert_close(a.grad, g_eager, rtol=1e-4, atol=1e-5)
