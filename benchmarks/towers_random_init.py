"""The towers measure (alexnet explain towers) on freshly initialised nets: the baseline a trained
net's towers are compared with (docs/REPRODUCTION.md §7).

    python benchmarks/towers_random_init.py --out OUT.json [--seeds 3]

alexnet2012 (two towers, 3 channels, Krizhevsky's released init) and alexnet_owt (one tower,
PyTorch's default init), each seed drawn with torch.manual_seed(seed).
"""

from __future__ import annotations

import argparse
import json
import sys


def main(argv=None) -> int:
    import torch

    from alexnet.atomic import atomic_write_text
    from alexnet.explain import towers_report
    from alexnet.models import create
    from alexnet.provenance import provenance

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    rows = []
    for arch in ("alexnet2012", "alexnet_owt"):
        for seed in range(args.seeds):
            torch.manual_seed(seed)
            r = towers_report(create(arch))
            rows.append({"arch": arch, "seed": seed, "per_tower": r["per_tower"]})
            print(arch, seed, [round(v, 4) for v in r["per_tower"]])
    atomic_write_text(args.out, json.dumps({"provenance": provenance("cpu"), "measure": r["measure"], "rows": rows},
                                           indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
