"""Per-layer shapes, parameters, multiply-accumulates, neurons and receptive fields; a training step's FLOPs.

    from alexnet.models.summary import summarize, format_table
    s = summarize("alexnet2012", input_size=224)
    print(format_table(s))          # or s["totals"]["params"] == 60_965_224

The model runs once on PyTorch's "meta" device, so nothing is allocated or initialised for real.
Receptive fields use seed 001's arithmetic (SPEC §6), starting from (n, j, r, start) = (n, 1, 1, 0.5):

    n_out = ⌊(n_in − k + 2p) / s⌋ + 1,  j_out = j_in·s,  r_out = r_in + (k − 1)·j_in,
    start_out = start_in + ((k − 1)/2 − p)·j_in

cuda-convnet's right/bottom padding of conv1 (224 crops) adds to n but leaves the left edge, and so
j, r and start, unchanged.
"""

from __future__ import annotations

import inspect
from dataclasses import asdict, dataclass

import torch
from torch.nn import functional as F
from torch.utils.flop_counter import FlopCounterMode, conv_backward_flop
from torch import nn

from .lrn import CeilPad2d, LocalResponseNorm
from .registry import create, model_class

# The paper's own numbers, quoted so the summary can set them beside the true counts.
PAPER_NEURONS_CONV1 = 253_440
PAPER_NEURONS_TOTAL = 650_000
PAPER_PARAMS = 60_000_000


@dataclass
class LayerRow:
    name: str
    op: str
    output_shape: list[int]
    params: int
    macs: int
    neurons: int
    receptive_field: int | None
    jump: int | None
    start: float | None


def _pair(v) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def _op_text(m: nn.Module) -> str:
    if isinstance(m, nn.Conv2d):
        k, s, p = _pair(m.kernel_size)[0], _pair(m.stride)[0], _pair(m.padding)[0]
        groups = f", groups={m.groups}" if m.groups > 1 else ""
        return f"conv {m.out_channels}×{k}×{k}/{s} pad {p}{groups}"
    if isinstance(m, nn.MaxPool2d):
        return f"maxpool {_pair(m.kernel_size)[0]}/{_pair(m.stride)[0]}"
    if isinstance(m, nn.Linear):
        return f"fc {m.in_features}→{m.out_features}"
    if isinstance(m, CeilPad2d):
        return "zero pad right/bottom (ceil rule)"
    if isinstance(m, LocalResponseNorm):
        return f"LRN n={m.size} α={m.alpha:g} β={m.beta:g} k={m.k:g} ({m.alpha_convention})"
    if isinstance(m, nn.Dropout):
        return f"dropout p={m.p:g}"
    if isinstance(m, nn.AdaptiveAvgPool2d):
        return f"adaptive avgpool {m.output_size}"
    return type(m).__name__.lower()


def summarize(arch: str = "alexnet2012", *, input_size: int = 224, num_classes: int = 1000,
              in_channels: int = 3, **model_kwargs) -> dict:
    """Summary of ``arch`` at a square ``input_size``: per-layer rows, totals and notes (a dict)."""
    if "input_size" in inspect.signature(model_class(arch)).parameters:
        model_kwargs.setdefault("input_size", input_size)
    with torch.device("meta"):
        model = create(arch, num_classes=num_classes, in_channels=in_channels, **model_kwargs)
    model.eval()

    names = {m: name for name, m in model.named_modules()}
    order: list[tuple[nn.Module, torch.Tensor, torch.Tensor]] = []

    def hook(module, inputs, output):
        order.append((module, inputs[0], output))

    handles = [m.register_forward_hook(hook) for m in model.modules() if not list(m.children())]
    try:
        with torch.no_grad():
            model(torch.empty(1, in_channels, input_size, input_size, device="meta"))
    finally:
        for h in handles:
            h.remove()

    def macs_of(module: nn.Module, x: torch.Tensor) -> int:
        """torch's own count (FlopCounterMode: 2 FLOPs per multiply-accumulate, grouped convolutions
        per group) of the layer run again on its meta input; the receptive fields below are ours."""
        with torch.no_grad(), FlopCounterMode(display=False) as flops:
            module(x)
        return flops.get_total_flops() // 2

    n, j, r, start = input_size, 1, 1, 0.5
    spatial = True
    rows: list[LayerRow] = []
    for module, x, y in order:
        params = sum(p.numel() for p in module.parameters(recurse=False))
        macs = neurons = 0
        if isinstance(module, nn.Conv2d):
            k, s, p = _pair(module.kernel_size)[0], _pair(module.stride)[0], _pair(module.padding)[0]
            n, j, r, start = (n - k + 2 * p) // s + 1, j * s, r + (k - 1) * j, start + ((k - 1) / 2 - p) * j
            macs, neurons = macs_of(module, x), y[0].numel()
        elif isinstance(module, nn.MaxPool2d):
            k, s, p = _pair(module.kernel_size)[0], _pair(module.stride)[0], _pair(module.padding)[0]
            n, j, r, start = (n - k + 2 * p) // s + 1, j * s, r + (k - 1) * j, start + ((k - 1) / 2 - p) * j
        elif isinstance(module, CeilPad2d):
            n = y.shape[-1]
        elif isinstance(module, nn.AdaptiveAvgPool2d) and y.shape[-1] != x.shape[-1]:
            if x.shape[-1] % y.shape[-1]:
                spatial = False  # uneven adaptive windows: no single kernel/stride describes them
            else:
                k = s = x.shape[-1] // y.shape[-1]
                n, j, r, start = (n - k) // s + 1, j * s, r + (k - 1) * j, start + (k - 1) / 2 * j
        elif isinstance(module, nn.Linear):
            spatial = False
            macs, neurons = macs_of(module, x), module.out_features
        rows.append(LayerRow(
            name=names[module], op=_op_text(module), output_shape=list(y.shape[1:]), params=params,
            macs=macs, neurons=neurons,
            receptive_field=r if spatial else None, jump=j if spatial else None,
            start=start if spatial else None))

    totals = {"params": sum(p.numel() for p in model.parameters()),
              "macs": sum(row.macs for row in rows),
              "neurons": sum(row.neurons for row in rows)}
    notes = []
    conv1 = next((row for row in rows if row.op.startswith("conv")), None)
    if arch == "alexnet2012" and conv1 is not None:
        notes.append(
            f"The paper gives {PAPER_NEURONS_CONV1:,} neurons for the first layer, but "
            f"{PAPER_NEURONS_CONV1:,} / {conv1.output_shape[0]} maps = {PAPER_NEURONS_CONV1 / conv1.output_shape[0]:,.1f} "
            f"positions is not a square: no {conv1.output_shape[0]}-map layer has that many. The true conv1 count "
            f"is {'×'.join(map(str, conv1.output_shape))} = {conv1.neurons:,}.")
        notes.append(f"Neurons over all conv and fc layers: {totals['neurons']:,} "
                     f"(the paper: \"{PAPER_NEURONS_TOTAL:,} neurons\"); parameters: {totals['params']:,} "
                     f"(the paper: \"60 million\").")
    return {"arch": arch, "input_size": input_size, "num_classes": num_classes, "in_channels": in_channels,
            "model_kwargs": {k: v for k, v in model_kwargs.items()},
            "layers": [asdict(row) for row in rows], "totals": totals, "notes": notes,
            "paper": {"neurons_conv1_stated": PAPER_NEURONS_CONV1, "neurons_total_stated": PAPER_NEURONS_TOTAL}
            if arch == "alexnet2012" else {}}


def format_table(summary: dict) -> str:
    """The summary as an aligned text table with totals and notes."""
    header = ("layer", "op", "output", "params", "MACs", "neurons", "RF", "jump", "start")
    lines = []
    for row in summary["layers"]:
        lines.append((
            row["name"], row["op"], "×".join(map(str, row["output_shape"])),
            f"{row['params']:,}" if row["params"] else "",
            f"{row['macs']:,}" if row["macs"] else "",
            f"{row['neurons']:,}" if row["neurons"] else "",
            "" if row["receptive_field"] is None else str(row["receptive_field"]),
            "" if row["jump"] is None else str(row["jump"]),
            "" if row["start"] is None else f"{row['start']:g}",
        ))
    t = summary["totals"]
    total = ("total", "", "", f"{t['params']:,}", f"{t['macs']:,}", f"{t['neurons']:,}", "", "", "")
    widths = [max(len(r[i]) for r in [header, *lines, total]) for i in range(len(header))]
    right = {3, 4, 5, 6, 7, 8}

    def fmt(r):
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip()

    rule = "  ".join("-" * w for w in widths)
    title = (f"{summary['arch']} — input {summary['in_channels']}×{summary['input_size']}×{summary['input_size']}, "
             f"{summary['num_classes']} classes")
    out = [title, "", fmt(header), rule, *map(fmt, lines), rule, fmt(total)]
    out += ["", "RF: receptive field side in input pixels; jump: input pixels between adjacent outputs; "
                "start: centre of the first output's field (pixel centres at 0.5, 1.5, ...)."]
    out += [f"Note: {note}" for note in summary["notes"]]
    return "\n".join(out)


def step_flops(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> int:
    """FLOPs of one training step's forward and backward (cross-entropy of ``model(images)`` against
    ``labels``) by torch.utils.flop_counter: matrix products and convolutions, 2 per multiply-accumulate;
    the few elementwise FLOPs of LRN, ReLU and pooling are not counted. torch 2.14's counter counts the
    weight gradient of a grouped convolution as if it were not grouped (2× for alexnet2012's conv2, conv4
    and conv5); here it is divided by the groups. The model's gradients are cleared afterwards."""
    formula = conv_backward_flop.__wrapped__            # torch's formula on shapes

    def conv_backward(grad_out, x, w, bias, stride, padding, dilation, transposed, out_pad, groups, mask,
                      out_shape, **kw) -> int:
        args = (grad_out, x, w, bias, stride, padding, dilation, transposed, out_pad, groups)
        return (formula(*args, [mask[0], False, False], out_shape)
                + formula(*args, [False, mask[1], False], out_shape) // groups)
    with FlopCounterMode(display=False, custom_mapping={torch.ops.aten.convolution_backward: conv_backward}) as c:
        F.cross_entropy(model(images).float(), labels).backward()
    model.zero_grad(set_to_none=True)
    return int(c.get_total_flops())
