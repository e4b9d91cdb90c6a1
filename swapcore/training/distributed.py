"""Training on several processes, launched by torchrun: one model replica per process (a GPU each, or CPU cores),
gradients averaged by DistributedDataParallel, so every replica takes the same steps.

    torchrun --nproc_per_node 2 -m webapp train --faces A B --model M ...

Rank 0 owns the model folder (checkpoints, metrics, sealed previews); the other ranks wait for it where they read
what it wrote. Decisions that end the loop (a signal, the time limit, a non-finite loss) are agreed by all ranks,
so none waits for a step the others will not take. Without torchrun (WORLD_SIZE unset or 1) nothing here runs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def shared(self) -> bool:
        return self.size > 1


def join(device_type: str) -> World:
    """This process's place among torchrun's (a world of one without torchrun)."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device_type == "cuda" else "gloo")
    return World(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def replicate(module: nn.Module, world: World, device: torch.device) -> nn.Module:
    """`module` with its gradients averaged over the world's replicas (itself in a world of one)."""
    if not world.shared:
        return module
    return DistributedDataParallel(module, device_ids=[device.index] if device.type == "cuda" else None)


def any_rank(world: World, flag: bool, device: torch.device) -> bool:
    """True where any rank's `flag` is True (a world of one: the flag itself)."""
    if not world.shared:
        return flag
    value = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def barrier(world: World) -> None:
    if world.shared:
        dist.barrier()
