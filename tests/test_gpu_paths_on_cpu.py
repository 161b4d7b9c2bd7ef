"""The code that only runs on CUDA, exercised on the CPU.

- StoreLoader's GPU-decoding path (decode_device "cuda"), with torchvision's decoder called on the
  CPU through the same signature and torch.cuda's streams and events replaced by recorders, must
  give the CPU path's batches, in the same order, decode one batch ahead on a side stream and hand
  each batch over through its event (no device-wide synchronize);
- train_step and a whole run with bf16 autocast and channels_last (what amp/channels_last "auto"
  choose on CUDA);
- build_data gives the loaders the rank's own GPU (cuda:N), not the current device.
"""

from __future__ import annotations

import pytest
import torch

import data_fixtures as fx
from alexnet.data.loader import StoreLoader
from train_fixtures import tiny_config, write_fashion_idx


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return fx.small_store(tmp_path_factory.mktemp("gpu_paths"))


class FakeCuda:
    """Stands in for torch.cuda's streams and events on the CPU and writes down, in order, what the
    loader asks of them: which stream each decode runs on, which events are recorded and waited
    for, which stream each batch is tied to, and any device-wide synchronize."""

    def __init__(self, monkeypatch):
        import torchvision.io
        self.log, self.current = [], "main"
        real = torchvision.io.decode_jpeg
        fake = self

        class Stream:
            def __init__(self, device=None):
                self.name = "side"

            def wait_event(self, event):
                fake.log.append(("wait", self.name, event.id))

        class Event:
            count = 0

            def __init__(self, *args, **kwargs):
                Event.count += 1
                self.id = Event.count

            def record(self, stream=None):
                fake.log.append(("record", stream.name, self.id))

        class StreamContext:
            def __init__(self, stream):
                self.stream, self.before = stream, None

            def __enter__(self):
                self.before, fake.current = fake.current, self.stream.name

            def __exit__(self, *exc):
                fake.current = self.before

        main = Stream()
        main.name = "main"

        def decode_on_cpu(input, mode=torchvision.io.ImageReadMode.UNCHANGED, device="cpu", **kw):
            assert isinstance(input, list) and all(t.dtype == torch.uint8 and t.ndim == 1 for t in input)
            fake.log.append(("decode", fake.current, len(input)))
            return real(input, mode=mode, device="cpu")

        def record_stream(tensor, stream):
            fake.log.append(("record_stream", stream.name, tuple(tensor.shape)))

        monkeypatch.setattr(torch.cuda, "Stream", Stream)
        monkeypatch.setattr(torch.cuda, "Event", Event)
        monkeypatch.setattr(torch.cuda, "stream", StreamContext)
        monkeypatch.setattr(torch.cuda, "current_stream", lambda device=None: main)
        monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: fake.log.append(("synchronize",)))
        monkeypatch.setattr(torch.Tensor, "record_stream", record_stream, raising=False)
        monkeypatch.setattr(torchvision.io, "decode_jpeg", decode_on_cpu)


@pytest.mark.parametrize("workers", [0, 2])
def test_gpu_decode_path_gives_the_cpu_path_batches_in_order(store, monkeypatch, workers):
    cuda = FakeCuda(monkeypatch)
    for drop_last, start in ((False, 0), (True, 1)):
        cpu = StoreLoader(store, 4, seed=5, drop_last=drop_last, workers=workers, decoder="pil")
        gpu = StoreLoader(store, 4, seed=5, drop_last=drop_last, workers=workers, decoder="pil")
        gpu.decode_device = "cuda"                          # what device="cuda" picks for a JPEG store
        cpu.set_epoch(3, start)
        gpu.set_epoch(3, start)
        a, b = list(cpu), list(gpu)
        assert len(a) == len(b) == len(cpu) - start
        for (xa, ya), (xb, yb) in zip(a, b):
            assert torch.equal(ya, yb)
            assert xb.dtype == torch.uint8 and xb.shape == xa.shape == (len(ya), 3, 64, 64)
            assert torch.equal(xa, xb)                      # libjpeg either way on the CPU
    assert ("synchronize",) not in cuda.log                # no device-wide synchronize


def test_gpu_decode_overlaps_and_hands_each_batch_over_by_its_event(store, monkeypatch):
    cuda = FakeCuda(monkeypatch)
    gpu = StoreLoader(store, 4, seed=5, drop_last=True, workers=2, decoder="pil")
    gpu.decode_device = "cuda"
    log = cuda.log
    handed = []
    for images, _ in gpu:
        handed.append(len(log))                             # where in the log each batch reached the caller
    decodes = [i for i, e in enumerate(log) if e[0] == "decode"]
    assert len(decodes) == len(handed) == len(gpu)
    assert all(log[i][1] == "side" for i in decodes)      # decoded on the side stream, never the caller's
    for n, at in enumerate(handed):
        # batch n+1's decode was queued before batch n was handed over: the GPU decodes while n trains
        if n + 1 < len(decodes):
            assert decodes[n + 1] < at
        # its event was recorded on the side stream after its decode, and the caller's stream waited
        # for exactly that event before the batch was handed over, then took the batch's memory
        record = next(e for e in log[decodes[n]:] if e[0] == "record")
        assert record[1] == "side"
        before = log[:at]
        waits = [e for e in before if e[0] == "wait"]
        assert waits[n] == ("wait", "main", record[2])
        assert [e for e in before if e[0] == "record_stream"][n][1] == "main"


def _relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def _cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.nn.functional.cosine_similarity(a.flatten().double(), b.flatten().double(), dim=0))


@pytest.mark.slow   # 5-15 s each on two cores: bf16 is slow on CPUs without bf16 instructions
@pytest.mark.parametrize("arch", ["alexnet2012", "alexnet_owt"])
def test_train_step_in_bf16_and_channels_last_gives_float32s_gradients(arch):
    from alexnet.models import create
    from alexnet.train.loop import train_step

    kwargs = {"num_classes": 7, "dropout": 0.0, **({"input_size": 64} if arch == "alexnet2012" else {})}
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 3, 64, 64, generator=g)
    y = torch.randint(0, 7, (4,), generator=g)
    losses, grads = {}, {}
    for amp in (None, torch.bfloat16):
        for cl in (False, True):
            torch.manual_seed(0)
            model = create(arch, **kwargs)
            if cl:
                model = model.to(memory_format=torch.channels_last)
            before = [p.detach().clone() for p in model.parameters()]
            opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
            r = train_step(model, x, y, opt, lambda t, generator=None: t, amp_dtype=amp, channels_last=cl)
            assert r.loss.dtype == torch.float32 and torch.isfinite(r.loss) and r.count == 4
            assert 0 <= int(r.correct1) <= int(r.correct5) <= 4
            assert any(not torch.equal(a, p) for a, p in zip(before, model.parameters()))
            losses[amp, cl] = float(r.loss)
            grads[amp, cl] = {n: p.grad.detach().clone() for n, p in model.named_parameters()}
    ref = grads[None, False]
    # float32 channels_last: NHWC convolution kernels sum in another order, ~1e-7 of each gradient
    # here; 1e-3 leaves room for other CPUs' kernels, while a mixed-up layout would be off by ~100%
    assert losses[None, True] == pytest.approx(losses[None, False], rel=1e-5)
    assert max(_relative(grads[None, True][n], ref[n]) for n in ref) < 1e-3
    for cl in (False, True):
        bf16 = grads[torch.bfloat16, cl]
        # bf16 keeps 8 significant bits (0.4 %): the loss (~2) moved by 0.14 % here, fc8's gradient by
        # 0.4 %; backpropagated through the ReLUs to conv1 the error grows to 17-43 %, but every gradient
        # still points float32's way (cosine ≥ 0.9 measured); a wrong net or layout gives cosine ~0
        assert losses[torch.bfloat16, cl] == pytest.approx(losses[None, False], rel=0.01)
        assert losses[torch.bfloat16, cl] != losses[None, False]                    # bf16 did run
        last = "fc8.weight" if arch == "alexnet2012" else "classifier.6.weight"
        assert _relative(bf16[last], ref[last]) < 0.05
        assert min(_cosine(bf16[n], ref[n]) for n in ref) > 0.7


@pytest.mark.slow   # ~10 s: two short training runs, one in bf16
def test_run_with_bf16_and_channels_last_makes_float32s_weight_updates(tmp_path, monkeypatch):
    from alexnet.models import create
    from alexnet.train.runner import read_run_config, run_training
    from alexnet.weights import load_weights

    monkeypatch.setenv("ALEXNET_CACHE", str(tmp_path / "cache"))
    fm = write_fashion_idx(tmp_path / "fm")
    out = run_training(tiny_config(fm, epochs=1, amp="bf16", channels_last=True, augment="paper",
                                   max_steps_per_epoch=2), tmp_path / "run")
    ref = run_training(tiny_config(fm, epochs=1, amp="off", channels_last=False, augment="paper",
                                   max_steps_per_epoch=2), tmp_path / "ref")
    assert out["status"] == ref["status"] == "done"
    # bf16 keeps 8 significant bits: the mean loss of the 2 steps agreed to 3e-5 here
    assert out["history"][-1]["train_loss"] == pytest.approx(ref["history"][-1]["train_loss"], rel=0.01)
    cfg = read_run_config(tmp_path / "ref")
    torch.manual_seed(cfg.seed)                     # the runs' common initial weights, as the trainer makes them
    initial = create(cfg.arch, **cfg.model).state_dict()
    tensors, _ = load_weights(tmp_path / "run" / "model.safetensors")
    expected, _ = load_weights(tmp_path / "ref" / "model.safetensors")
    assert tensors.keys() == expected.keys()
    for k in expected:        # channels_last weights are saved in the standard layout
        assert tensors[k].shape == expected[k].shape, k
        # Two steps move most weights by 0.1-3 %, so compare the updates, not the weights: bf16's
        # rounding (8 bits) grows through the backward pass to 16 % of conv1's update, 2.5 % of fc6's,
        # with cosine ≥ 0.98 (measured); a path that trained another net would be off by ~100 %
        update, expected_update = tensors[k] - initial[k], expected[k] - initial[k]
        assert expected_update.norm() > 0, k
        assert _relative(update, expected_update) < 0.4 and _cosine(update, expected_update) > 0.9, k


def test_build_data_puts_the_loaders_on_the_ranks_gpu(tmp_path, monkeypatch):
    from alexnet.train.data import build_data
    from alexnet.train.distributed import DistContext

    monkeypatch.setenv("ALEXNET_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)   # nothing touches the GPU here
    cfg = tiny_config(write_fashion_idx(tmp_path / "fm"), epochs=1)
    data = build_data(cfg, DistContext(device=torch.device("cuda", 1)))
    assert data.train_loader.device == data.val_loader.device == torch.device("cuda", 1)
