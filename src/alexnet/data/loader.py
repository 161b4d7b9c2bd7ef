"""Batches of a prepared store, with exact per-epoch shuffling sharded over ranks.

Usage::

    store = PreparedStore(out, "train")
    loader = StoreLoader(store, 128, shuffle=True, seed=0, rank=rank, world_size=world,
                         drop_last=True, workers=8, device="cuda")
    for epoch in range(start_epoch, epochs):
        loader.set_epoch(epoch, start_batch=done_batches if epoch == start_epoch else 0)
        for images, labels in loader:      # uint8 (B, C, H, W), int64 (B,), both on `device`
            ...

**Order.** Epoch e's global order is ``np.random.default_rng((seed, e)).permutation(N)``
(``arange(N)`` without shuffle): the same on every run and machine. Rank r of W takes
positions r, r+W, r+2W, … of that order, as ``DistributedSampler`` does. With
``drop_last=False`` the order is padded to a multiple of W by repeating its first images (so at
most W−1 images appear twice in an epoch, none is lost) and the last batch may be short; with
``drop_last=True`` the last ``N mod W`` images of the order are left out of that epoch (a
different set each epoch) and so is each rank's last incomplete batch.

**Decoding.** CPU path: ``workers`` threads read (``os.pread``) and decode (PIL, or simplejpeg
when installed) straight into the batch array, a few batches ahead; pinned memory when the
device is CUDA. GPU path (device CUDA and JPEG store, :class:`GpuDecoder`): the threads only read
bytes; ``torchvision.io.decode_jpeg(..., device="cuda")`` decodes batch n+1 on a side stream
while the caller's stream trains on batch n. Each decoded batch carries an event recorded on the
side stream after its decode; before it is handed over, the caller's stream waits for that event
and the batch is ``record_stream``-ed to the caller's stream (so the caching allocator does not
reuse its memory while the caller's kernels may still read it). No device-wide synchronize. The
batches and their order are those of the CPU path (the same indices, the same libjpeg-turbo
pixels on the CPU; nvJPEG on a GPU may differ from libjpeg-turbo by a level here and there).
``in_memory=True`` decodes the whole split once into one uint8 tensor on ``device`` (small sets
such as Fashion-MNIST) and batches by indexing.
"""

from __future__ import annotations

import collections
import math
from concurrent.futures import ThreadPoolExecutor
from typing import Iterator

import numpy as np
import torch

from .store import PreparedStore


def _have_simplejpeg() -> bool:
    try:
        import simplejpeg  # noqa: F401
    except ImportError:
        return False
    return True


class GpuDecoder:
    """nvJPEG decoding on a side stream, handed to the caller's stream by an event.

    ``launch(encoded)`` queues the decode of one batch on the side stream and returns it with an
    event recorded after it (the host does not wait); ``collect(pending)`` makes the caller's
    current stream wait for that event, ties the batch's memory to that stream
    (``record_stream``) and returns it. torchvision's decoder orders its own internal stream
    before the stream that was current when it was called (an event, in its C++ code), so the
    stack on the side stream sees finished pixels.
    """

    def __init__(self, device: torch.device):
        self.device = torch.device(device)
        self.stream = torch.cuda.Stream(device=self.device)

    def launch(self, encoded: list[bytes]):
        import warnings

        from torchvision.io import ImageReadMode, decode_jpeg
        data = [torch.frombuffer(bytearray(b), dtype=torch.uint8) for b in encoded]
        with torch.cuda.stream(self.stream), warnings.catch_warnings():
            # torchvision 0.29 deprecates its decoders for TorchCodec, which the GPU machines we
            # measure on do not have (docs/BENCHMARKS.md); the call itself is unchanged.
            warnings.simplefilter("ignore", DeprecationWarning)
            images = torch.stack(decode_jpeg(data, mode=ImageReadMode.RGB, device=self.device))
            done = torch.cuda.Event()
            done.record(self.stream)
        return images, done

    def collect(self, pending) -> torch.Tensor:
        images, done = pending
        consumer = torch.cuda.current_stream(self.device)
        consumer.wait_event(done)
        images.record_stream(consumer)
        return images


class StoreLoader:
    """Iterable over one epoch's batches of ``store``; see the module docstring.

    ``decoder``: "auto" (simplejpeg if installed, else PIL), "pil" or "simplejpeg" (CPU path).
    ``prefetch``: batches decoded ahead of the consumer. ``gpu_decode=False`` keeps the CPU path
    (decode on the CPU, pinned memory, asynchronous copy) on a CUDA device.
    """

    def __init__(self, store: PreparedStore, batch_size: int, *, shuffle: bool = True, seed: int = 0,
                 rank: int = 0, world_size: int = 1, drop_last: bool = False, workers: int = 2,
                 device: str | torch.device = "cpu", in_memory: bool = False, decoder: str = "auto",
                 prefetch: int = 2, gpu_decode: bool = True):
        if batch_size < 1:
            raise ValueError(f"batch_size must be ≥ 1, got {batch_size}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in [0, world_size={world_size})")
        if len(store) == 0:
            raise ValueError(f"{store.split_dir} holds no images")
        self.store, self.batch_size = store, int(batch_size)
        self.shuffle, self.seed, self.rank, self.world_size = shuffle, int(seed), rank, world_size
        self.drop_last, self.workers, self.in_memory = drop_last, max(0, int(workers)), in_memory
        self.prefetch = max(1, int(prefetch))
        self.device = torch.device(device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device {self.device} requested but CUDA is not available; use device='cpu'")
        if decoder == "auto":
            decoder = "simplejpeg" if _have_simplejpeg() else "pil"
        if decoder not in ("pil", "simplejpeg"):
            raise ValueError(f"decoder must be 'auto', 'pil' or 'simplejpeg', not {decoder!r}")
        self.decoder = decoder
        #: where JPEGs are decoded: "cuda" (nvJPEG via torchvision) or "cpu"
        self.decode_device = "cuda" if (self.device.type == "cuda" and store.encoding == "jpeg"
                                        and not in_memory and gpu_decode) else "cpu"
        n = len(store)
        self.num_samples = n // world_size if drop_last else math.ceil(n / world_size)
        if self.num_samples == 0:
            raise ValueError(f"{n} images cannot give every one of {world_size} ranks an image with drop_last")
        self.total_size = self.num_samples * world_size
        self.epoch, self._start_batch = 0, 0
        self._memory: torch.Tensor | None = None
        self._labels = torch.from_numpy(store.labels)

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        """Select epoch ``epoch``'s order; the next iteration starts at batch ``start_batch``
        (a resumed run skips the batches it already did). Later iterations start at 0."""
        if not 0 <= start_batch <= len(self):
            raise ValueError(f"start_batch {start_batch} is outside [0, {len(self)}]")
        self.epoch, self._start_batch = int(epoch), int(start_batch)

    def epoch_indices(self, epoch: int) -> np.ndarray:
        """This rank's sample indices for ``epoch``, in order (int64)."""
        n = len(self.store)
        order = (np.random.default_rng((self.seed, int(epoch))).permutation(n) if self.shuffle
                 else np.arange(n))
        if self.total_size > n:                       # pad by repeating the start of the order
            order = np.concatenate([order, np.resize(order, self.total_size - n)])
        return order[self.rank:self.total_size:self.world_size].astype(np.int64)

    def __len__(self) -> int:
        if self.drop_last:
            return self.num_samples // self.batch_size
        return math.ceil(self.num_samples / self.batch_size)

    # -- decoding -----------------------------------------------------------------------------
    def _shape(self) -> tuple[int, int, int]:
        s = self.store
        return s.channels, s.image_size, s.image_size

    def _decode_into(self, out: np.ndarray, ix: np.ndarray) -> None:
        """Decode images ``ix`` into ``out`` (len(ix), C, H, W) uint8."""
        store, backend = self.store, self.decoder
        if store.encoding == "jpeg" and backend == "simplejpeg":
            # the same pixels as store.decode_bytes(…, "simplejpeg"), decoded into one reused
            # (H, W, C) buffer instead of a fresh array per image
            import simplejpeg
            c, h, w = self._shape()
            buf = np.empty((h, w, c), np.uint8)
            for j, i in enumerate(ix):
                img = simplejpeg.decode_jpeg(store.read_encoded(int(i)), colorspace="RGB", buffer=buf)
                out[j] = img.transpose(2, 0, 1)
            return
        for j, i in enumerate(ix):
            out[j] = store.decode_bytes(store.read_encoded(int(i)), backend).transpose(2, 0, 1)

    def _cpu_batch(self, pool: ThreadPoolExecutor | None, ix: np.ndarray):
        pin = self.device.type == "cuda"
        images = torch.empty((len(ix), *self._shape()), dtype=torch.uint8, pin_memory=pin)
        arr = images.numpy()
        if pool is None:
            self._decode_into(arr, ix)
            return [], images
        parts = np.array_split(np.arange(len(ix)), min(self.workers, len(ix)))
        return [pool.submit(self._decode_into, arr[p[0]:p[-1] + 1], ix[p]) for p in parts if len(p)], images

    def _read_batch(self, ix: np.ndarray) -> list[bytes]:
        return [self.store.read_encoded(int(i)) for i in ix]

    def _load_memory(self) -> torch.Tensor:
        if self._memory is None:
            n = len(self.store)
            images = torch.empty((n, *self._shape()), dtype=torch.uint8)
            arr = images.numpy()
            if self.workers > 1:
                with ThreadPoolExecutor(self.workers) as pool:
                    chunks = np.array_split(np.arange(n), self.workers * 4)
                    list(pool.map(lambda p: self._decode_into(arr[p[0]:p[-1] + 1], p) if len(p) else None, chunks))
            else:
                self._decode_into(arr, np.arange(n))
            self._memory = images.to(self.device)
        return self._memory

    # -- iteration ----------------------------------------------------------------------------
    def _batches(self) -> list[np.ndarray]:
        ix = self.epoch_indices(self.epoch)
        end = len(self) * self.batch_size if self.drop_last else len(ix)
        start, self._start_batch = self._start_batch * self.batch_size, 0
        return [ix[s:min(s + self.batch_size, end)] for s in range(start, end, self.batch_size)]

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        batches = self._batches()
        if self.in_memory:
            memory = self._load_memory()
            for ix in batches:
                t = torch.from_numpy(ix)
                yield memory[t.to(memory.device)], self._labels[t].to(self.device)
            return
        if self.decode_device == "cuda":
            yield from self._iter_gpu(batches)
            return
        pool = ThreadPoolExecutor(self.workers) if self.workers > 0 else None
        pending: collections.deque = collections.deque()
        try:
            it = iter(batches)
            for _ in range(self.prefetch):
                self._submit(pool, it, pending)
            while pending:
                ix, futures, images = pending.popleft()
                for f in futures:
                    f.result()
                self._submit(pool, it, pending)
                labels = self._labels[torch.from_numpy(ix)]
                yield images.to(self.device, non_blocking=True), labels.to(self.device, non_blocking=True)
        finally:
            for _, futures, _ in pending:
                for f in futures:
                    f.cancel()
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)

    def _submit(self, pool, it, pending) -> None:
        ix = next(it, None)
        if ix is not None:
            futures, images = self._cpu_batch(pool, ix)
            pending.append((ix, futures, images))

    def _iter_gpu(self, batches: list[np.ndarray]) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Threads read the bytes ``prefetch`` batches ahead; the GPU decodes one batch ahead of
        the one being handed over, on its side stream (:class:`GpuDecoder`)."""
        decoder = GpuDecoder(self.device)
        pool = ThreadPoolExecutor(max(1, self.workers))
        reads = collections.deque(pool.submit(self._read_batch, ix) for ix in batches[:self.prefetch + 1])
        later = iter(batches[self.prefetch + 1:])
        decoded: collections.deque = collections.deque()
        try:
            for ix in batches:
                while len(decoded) < 2 and reads:        # batch n and n+1 on the GPU (n+1 still decoding)
                    decoded.append(decoder.launch(reads.popleft().result()))
                    nxt = next(later, None)
                    if nxt is not None:
                        reads.append(pool.submit(self._read_batch, nxt))
                images = decoder.collect(decoded.popleft())
                yield images, self._labels[torch.from_numpy(ix)].to(self.device, non_blocking=True)
        finally:
            for f in reads:
                f.cancel()
            pool.shutdown(wait=True, cancel_futures=True)
