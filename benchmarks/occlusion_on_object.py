"""Zeiler & Fergus's occlusion claim (their section 4.2, Fig. 7), measured on Fashion-MNIST: does the
grey square hurt the true class most where it covers the object rather than the background?

    python benchmarks/occlusion_on_object.py runs/explain-demo/model.safetensors --images 100 --out OUT.json

For each of the first N test images (the prepared store's val split, the net's own preprocessing):
:func:`alexnet.explain.occlusion_maps` with the true class as target (square 9 px, stride 9 at 64 px).
"object share" of a square position = the share of its pixels brighter than 10% grey in the image
the net sees (Fashion-MNIST garments lie on black). Reported: the mean object share under the square
that lowers p(true class) most, against the mean object share over all positions of the square (what a
square placed at random covers), and the mean drop of p(true class) at that worst square.
"""

from __future__ import annotations

import argparse
import json
import sys


def object_share(pixels, rows, cols, patch: int):
    """(rows, cols) share of bright pixels under the square at each position; ``pixels`` (H, W) in [0, 1]."""
    import torch
    bright = (pixels > 0.1).float()
    return torch.tensor([[float(bright[r:r + patch, c:c + patch].mean()) for c in cols] for r in rows])


def main(argv=None) -> int:
    import torch

    from alexnet.atomic import atomic_write_text
    from alexnet.explain import occlusion_maps
    from alexnet.explain.sources import open_image_set
    from alexnet.progress import Progress
    from alexnet.provenance import provenance
    from alexnet.use import Predictor

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("weights")
    ap.add_argument("--data", default="fashion-mnist")
    ap.add_argument("--images", type=int, default=100)
    ap.add_argument("--patch", type=int, default=9)
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    predictor = Predictor(args.weights, "cpu")
    images = open_image_set(predictor, [args.data], split="val", limit=args.images)
    from alexnet.data.open import open_split
    labels = open_split(args.data, "val").labels[:len(images)]
    worst_share, mean_share, drops, hits = [], [], [], 0
    with Progress(total=len(images), desc="occlusion", unit="img") as bar:
        for i in range(len(images)):
            x = images.net_input([i])
            r = occlusion_maps(predictor.model, x, int(labels[i]), patch=args.patch, stride=args.patch)
            share = object_share(images.display([i])[0, 0], r["rows"], r["cols"], args.patch)
            k = int(r["probability"].argmin())
            worst_share.append(float(share.flatten()[k]))
            mean_share.append(float(share.mean()))
            drops.append(r["target_probability"] - float(r["probability"].flatten()[k]))
            hits += r["top_class"] == int(labels[i])
            bar.update(1)
    n = len(images)
    result = {"provenance": provenance("cpu"), "weights": args.weights, "images": n, "patch": args.patch,
              "stride": args.patch, "accuracy_unoccluded": hits / n,
              "object_share_under_worst_square": sum(worst_share) / n,
              "object_share_mean_over_positions": sum(mean_share) / n,
              "worst_square_on_more_object_than_average": sum(w > m for w, m in zip(worst_share, mean_share)) / n,
              "mean_drop_of_p_true_at_worst_square": sum(drops) / n}
    atomic_write_text(args.out, json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "provenance"}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
