"""The limits a server runs under (``alexnet serve`` options; every one has a safe default)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    max_batch: int = 32             # images per forward pass; 1 turns dynamic batching off
    max_wait_ms: float = 5.0        # how long a batch waits for more requests after its first
    queue_size: int = 64            # requests waiting per batcher before 503 + Retry-After
    max_body_bytes: int = 20 << 20  # a request body over this gets 413
    max_files: int = 16             # images per multipart request
    max_pixels: int = 40_000_000    # declared pixels per image (decompression bombs: 400 before decoding)
    timeout_s: float = 30.0         # per request: 504 after this
    explain_timeout_s: float = 120.0  # per explain request (occlusion runs hundreds of forward passes)
    patches_limit: int = 2000       # images of --patches-from searched for top-9 patches
    max_topk: int = 1000

    def __post_init__(self):
        for name in ("max_batch", "queue_size", "max_body_bytes", "max_files", "max_pixels", "max_topk", "patches_limit"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.max_wait_ms < 0 or self.timeout_s <= 0:
            raise ValueError(f"max_wait_ms must be ≥ 0 and timeout_s > 0, got {self.max_wait_ms} and {self.timeout_s}")
