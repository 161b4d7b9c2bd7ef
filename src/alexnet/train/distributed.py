"""torch.distributed set-up for runs launched by ``torchrun`` (DDP; NCCL on GPUs, gloo on CPUs).

    ctx = setup_distributed("auto")   # reads RANK, WORLD_SIZE, LOCAL_RANK; no env → one process
    ...
    teardown_distributed(ctx)

Each rank reads its own shard of every epoch (StoreLoader(rank=, world_size=)) with
``batch_size / world_size`` images per step, so the global batch (the recipe's number) and the
learning rate do not change with the number of GPUs. Only rank 0 writes logs and checkpoints.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..device import resolve_device


@dataclass
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    initialised: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def setup_distributed(device_name: str = "auto") -> DistContext:
    """One process, or a process group from torchrun's environment variables."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_name, local_rank)
    if world_size <= 1:
        return DistContext(device=device)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo",
                                rank=rank, world_size=world_size, store=_attempt_store(world_size))
    return DistContext(rank=rank, world_size=world_size, local_rank=local_rank, device=device, initialised=True)


def _attempt_store(world_size: int):
    """Under torchrun, the agent's store with a prefix per restart (None elsewhere: env:// as usual).

    After ``torchrun --max-restarts`` restarts the ranks, the agent's store still holds the keys
    the killed attempt wrote (each rank's gloo address): a restarted rank could read its peer's
    old address and fail to connect, or wait forever. Keys under ``attempt-N/`` are fresh."""
    if os.environ.get("TORCHELASTIC_USE_AGENT_STORE") != "True":
        return None
    store = dist.TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), world_size,
                          is_master=False, timeout=datetime.timedelta(minutes=30))
    return dist.PrefixStore(f"alexnet/attempt-{os.environ.get('TORCHELASTIC_RESTART_COUNT', '0')}", store)


def teardown_distributed(ctx: DistContext) -> None:
    if ctx.initialised and dist.is_initialized():
        dist.destroy_process_group()


def barrier(ctx: DistContext, timeout: datetime.timedelta | None = None) -> None:
    """Wait for every rank. With ``timeout`` the wait runs in a gloo (CPU) group of that timeout,
    for waits far longer than NCCL's default of 10 minutes (a rank preparing ImageNet)."""
    if not ctx.distributed:
        return
    if timeout is None:
        dist.barrier()
        return
    group = dist.new_group(backend="gloo", timeout=timeout)
    try:
        dist.barrier(group=group)
    finally:
        dist.destroy_process_group(group)


def broadcast_floats(ctx: DistContext, values: list[float]) -> list[float]:
    """Rank 0's numbers on every rank (validation metrics drive the schedule on all ranks)."""
    if not ctx.distributed:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=ctx.device)
    dist.broadcast(t, src=0)
    return t.tolist()


def all_reduce_sum(ctx: DistContext, t: torch.Tensor) -> torch.Tensor:
    if ctx.distributed:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t
