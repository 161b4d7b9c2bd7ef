"""Image retrieval by Euclidean distance between fc7 vectors (the paper's Figure 4, right).

    index = FeatureIndex.load("index.safetensors")            # written by `alexnet features`
    q = predictor.features(["query.jpg"], layer=index.layer)  # (Q, D)
    distances, neighbours = index.search(q, k=8)              # (Q, k) each, nearest first
    [index.paths[j] for j in neighbours[0]]

Search is exact in both backends: ``"exact"`` computes all distances with torch (chunked over
the index, so memory stays bounded); ``"faiss"`` uses ``faiss.IndexFlatL2`` (also exhaustive,
just faster on large indexes). ``"auto"`` picks faiss when it is installed and the index holds at
least :data:`FAISS_MIN_ROWS` vectors.

Index file: a safetensors file with one tensor ``features`` (N, D) float32 and string metadata
``format`` = ``alexnet-features/1``, ``paths`` (JSON list of N image paths, row order),
``layer`` (fc7/fc6/pool5), ``weights`` (path of the weights file used) and ``weights_sha256``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from ..atomic import atomic_path

FEATURES_FORMAT = "alexnet-features/1"
#: "auto" switches to faiss at this many index rows: below it torch's exact search takes well
#: under a second per query batch on a CPU, so the optional dependency buys nothing.
FAISS_MIN_ROWS = 50_000
BACKENDS = ("auto", "exact", "faiss")
# Index rows per distance block in the torch search: (Q × 65,536) floats per step.
_CHUNK = 65_536


def faiss_available() -> bool:
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass
class FeatureIndex:
    """Feature vectors (N, D) with the image path of each row."""

    features: torch.Tensor
    paths: list[str]
    layer: str = "fc7"
    weights: str = ""
    weights_sha256: str = ""

    def __post_init__(self):
        if self.features.ndim != 2:
            raise ValueError(f"features must be (N, D), got shape {tuple(self.features.shape)}")
        if len(self.paths) != len(self.features):
            raise ValueError(f"{len(self.paths)} paths for {len(self.features)} feature rows")
        self.features = self.features.detach().to("cpu", torch.float32).contiguous()

    def __len__(self) -> int:
        return len(self.paths)

    # -- file -------------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Write the index atomically (format in the module docstring)."""
        metadata = {"format": FEATURES_FORMAT, "paths": json.dumps(self.paths), "layer": self.layer,
                    "weights": self.weights, "weights_sha256": self.weights_sha256}
        with atomic_path(path) as tmp:
            save_file({"features": self.features}, str(tmp), metadata=metadata)
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "FeatureIndex":
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"feature index not found: {path} (make one with `alexnet features`)")
        try:
            with safe_open(str(path), framework="pt", device="cpu") as f:
                metadata = f.metadata() or {}
                features = f.get_tensor("features") if "features" in f.keys() else None
        except Exception as e:  # safetensors raises its own error types for a damaged header
            raise ValueError(f"{path} is not a readable safetensors file ({e})") from e
        if metadata.get("format") != FEATURES_FORMAT or features is None:
            raise ValueError(f"{path} is not a feature index written by `alexnet features` "
                             f"(format={metadata.get('format')!r}, expected {FEATURES_FORMAT!r})")
        return cls(features, json.loads(metadata["paths"]), metadata.get("layer", "fc7"),
                   metadata.get("weights", ""), metadata.get("weights_sha256", ""))

    # -- search -----------------------------------------------------------------------------------
    def resolve_backend(self, backend: str = "auto") -> str:
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
        if backend == "faiss" and not faiss_available():
            raise ValueError("backend 'faiss' was asked for but faiss is not installed "
                             "(pip install faiss-cpu, or use --backend exact)")
        if backend == "auto":
            return "faiss" if len(self) >= FAISS_MIN_ROWS and faiss_available() else "exact"
        return backend

    def search(self, queries: torch.Tensor, k: int = 8, backend: str = "auto"
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """The ``k`` nearest rows to each query by Euclidean distance → (distances, indices), (Q, k).

        Nearest first; ``k`` is capped at the index size. ``backend``: "auto", "exact" or "faiss".
        """
        queries = torch.as_tensor(queries).detach().to("cpu", torch.float32)
        if queries.ndim == 1:
            queries = queries[None]
        if queries.shape[1] != self.features.shape[1]:
            raise ValueError(f"queries have {queries.shape[1]} dimensions but the index holds "
                             f"{self.features.shape[1]}-d {self.layer} vectors; extract the queries at "
                             f"the same layer with the same weights")
        if len(self) == 0:
            raise ValueError("the feature index is empty")
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        k = min(k, len(self))
        if self.resolve_backend(backend) == "faiss":
            return _search_faiss(self.features, queries, k)
        return _search_exact(self.features, queries, k)


def _search_exact(features: torch.Tensor, queries: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    best_d = torch.full((len(queries), 0), float("inf"))
    best_i = torch.zeros((len(queries), 0), dtype=torch.long)
    for start in range(0, len(features), _CHUNK):
        block = features[start:start + _CHUNK]
        # Direct differences rather than the |a|²−2ab+|b|² expansion, which loses precision
        # exactly where near-duplicates sit (distances near 0).
        d = torch.cdist(queries, block, compute_mode="donot_use_mm_for_euclid_dist")
        d_all = torch.cat([best_d, d], dim=1)
        i_all = torch.cat([best_i, torch.arange(start, start + len(block)).expand(len(queries), -1)], dim=1)
        best_d, order = d_all.topk(min(k, d_all.shape[1]), dim=1, largest=False, sorted=True)
        best_i = i_all.gather(1, order)
    return best_d, best_i


def _search_faiss(features: torch.Tensor, queries: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    import faiss
    index = faiss.IndexFlatL2(features.shape[1])
    index.add(features.numpy())
    squared, indices = index.search(queries.numpy(), k)
    # IndexFlatL2 returns squared distances; tiny negative values come from rounding.
    return torch.from_numpy(squared).clamp_min(0).sqrt(), torch.from_numpy(indices).long()
