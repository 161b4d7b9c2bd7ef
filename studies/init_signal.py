"""How much of alexnet2012's initial logits depends on the image, per init (SPEC §1, docs/REPRODUCTION.md).

    python studies/init_signal.py --out benchmarks/results/init-signal-DATE.json   # Fashion-MNIST, 64 px
    python studies/init_signal.py --images 256 --seeds 5 --out ...

For each init and seed: logits of N test images at initialisation (eval mode, no dropout), with the
paper recipe's input (the whole 28-px image resized to 64, [0, 255] minus the training mean image).
"per-image part" = the RMS over images and classes of (logit − its mean over the images): what
changes from one image to the next; "size" = the RMS of the logits. Their ratio is the share of the
logits that carries the image; the rest is the same for every image (the bias path).
Prints a table and writes JSON with its provenance to ``--out``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from alexnet.atomic import atomic_write_text
from alexnet.provenance import provenance


def main(argv=None) -> int:
    import torch

    from alexnet.recipes import resolve_config
    from alexnet.models import create
    from alexnet.train.data import build_data

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--images", type=int, default=512)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    cfg = resolve_config("paper", {"dataset": "fashion-mnist", "input_size": 64, "batch_size": args.images,
                                   "workers": 0, "device": "cpu"})
    data = build_data(cfg)
    images, _ = next(iter(data.val_loader))
    x = data.view_fn(images)[0]
    rows = []
    for init in ("paper", "cuda-convnet", "caffe"):
        for seed in range(args.seeds):
            torch.manual_seed(seed)
            net = create("alexnet2012", num_classes=10, in_channels=1, input_size=64, init=init).eval()
            with torch.no_grad():
                logits = net(x).double()
            per_image = (logits - logits.mean(0)).pow(2).mean().sqrt().item()
            size = logits.pow(2).mean().sqrt().item()
            rows.append({"init": init, "seed": seed, "per_image_rms": per_image, "logit_rms": size,
                         "per_image_share": per_image / size})
            print(f"{init:<13} seed {seed}: per-image part {per_image:9.4f}  logits {size:9.4f}  "
                  f"share {100 * per_image / size:6.2f}%")
    record = {"provenance": provenance(), "images": len(x),
              "input": "Fashion-MNIST test images, 28 → 64 px, [0, 255] − mean image", "rows": rows}
    atomic_write_text(args.out, json.dumps(record, indent=2, allow_nan=False) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
