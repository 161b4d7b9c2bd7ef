"""Where a training step's time goes, layer by layer, from torch.profiler (benchmarks/roofline.py reports it).

    transform = profiled_input(data.train_transform)          # the input path, reported as "input"
    b = step_breakdown(model, lambda: train_step(model, images, labels, optimizer, transform), steps=2)
    b["step_ms"], b["parts"]["fc7"]                            # {"ms": ..., "forward_ms": ..., "backward_ms": ...}

A layer's backward is the autograd nodes its forward created: nodes are numbered in creation order, so
the number of the layer's output node (and of a marker node at each forward's start) bounds them; the
profiler's ``evaluate_function`` events carry those numbers. A node belongs to the first bound at or
after its number ("loss" after the last layer). The parts are disjoint: ``other`` is the rest of the step.
"""

from __future__ import annotations

import bisect
from typing import Any, Callable

import torch
from torch import nn
from torch.profiler import ProfilerActivity, profile, record_function


def profiled_input(transform: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
    """``transform`` inside a profiler range named "input", which :func:`step_breakdown` reports as such."""
    def wrapped(x, generator=None):
        with record_function("input"):
            return transform(x, generator=generator)
    return wrapped


def step_breakdown(model: nn.Module, step: Callable[[], Any], steps: int = 2) -> dict[str, Any]:
    """Milliseconds per call of ``step`` (one training step of ``model``), over ``steps`` profiled calls:
    ``{"step_ms": ..., "parts": ...}``, the parts being each leaf layer (``ms``, ``forward_ms``,
    ``backward_ms``), ``input`` (:func:`profiled_input`), ``optimizer`` (its ``step`` and ``zero_grad``),
    ``loss``, ``grad accumulation`` and ``other``. On CUDA the times are the device's."""
    bounds: list[tuple[int, str]] = []
    ranges: dict[str, Any] = {}
    marker = torch.zeros(1, requires_grad=True)

    def seq(t) -> int | None:
        return t.grad_fn._sequence_nr() if getattr(t, "grad_fn", None) is not None else None

    def hooks(name: str):
        def pre(mod, inp):
            ranges[name] = record_function(f"fwd:{name}").__enter__()

        def post(mod, inp, out):
            ranges.pop(name).__exit__(None, None, None)
            if seq(out) is not None:
                bounds.append((seq(out), name))
        return pre, post
    handles = [model.register_forward_pre_hook(lambda mod, inp: bounds.append((seq(marker * 1), "(start)")))]
    for full, m in model.named_modules():
        if full and not list(m.children()):
            pre, post = hooks(full.split(".")[-1])
            handles += [m.register_forward_pre_hook(pre), m.register_forward_hook(post)]
    cuda = any(p.is_cuda for p in model.parameters())
    try:
        with profile(activities=[ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])) as prof:
            for _ in range(steps):
                with record_function("step"):
                    step()
            if cuda:
                torch.cuda.synchronize()
    finally:
        for h in handles:
            h.remove()
    return _attribute(prof.events(), sorted(bounds), steps, cuda)


def _attribute(events, bounds: list[tuple[int, str]], steps: int, cuda: bool) -> dict[str, Any]:
    total, out = 0.0, {}
    for e in events:
        ms = (e.device_time_total if cuda else e.cpu_time_total) / 1000.0 / steps
        if e.name == "step":
            total += ms
            continue
        if e.name.startswith("fwd:"):
            name, part = e.name[4:], "forward_ms"
        elif e.name.startswith("autograd::engine::evaluate_function: "):
            i = bisect.bisect_left(bounds, (e.sequence_nr, ""))
            name = "loss" if i == len(bounds) or bounds[i][1] == "(start)" else bounds[i][1]
            name, part = "grad accumulation" if "AccumulateGrad" in e.name else name, "backward_ms"
        elif e.name.startswith(("Optimizer.step#", "Optimizer.zero_grad#")) or e.name == "input":
            name, part = "input" if e.name == "input" else "optimizer", None
        else:
            continue
        row = out.setdefault(name, {"ms": 0.0} if part is None else {"ms": 0.0, "forward_ms": 0.0, "backward_ms": 0.0})
        row["ms"] += ms
        if part is not None:
            row[part] += ms
    out["other"] = {"ms": total - sum(v["ms"] for v in out.values())}
    return {"step_ms": total, "parts": out}
