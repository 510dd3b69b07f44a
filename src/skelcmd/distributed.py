"""Multi-process training through `torchrun` (DDP): process group, device, and the key gather.

`torchrun --nproc_per_node 4 -m skelcmd pretrain ...` sets RANK / WORLD_SIZE / LOCAL_RANK; a
plain `skelcmd pretrain` is a world of one and never touches torch.distributed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from skelcmd.errors import UserError


@dataclass(frozen=True)
class World:
    rank: int
    size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def pick_device(name: str, local_rank: int = 0) -> torch.device:
    """`auto` takes the CUDA device of this process when there is one, else the CPU."""
    if name == "auto":
        name = f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"
    elif name == "cuda":
        name = f"cuda:{local_rank}"
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UserError(
            f"device {name!r} (--device, or train.device in a config) is not a device; use auto, "
            "cpu or cuda."
        ) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError(
            f"the device is {name!r} (--device, or train.device in a config) but CUDA is not "
            "available here; use auto or cpu."
        )
    return device


def init_world(device_name: str = "auto") -> World:
    """Join the process group if launched by torchrun, and choose this process's device."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(device_name, local_rank)
    if size > 1 and not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    rank = dist.get_rank() if dist.is_initialized() else 0
    return World(rank, dist.get_world_size() if dist.is_initialized() else 1, device)


def close_world() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


@torch.no_grad()
def gather_batch(x: torch.Tensor) -> torch.Tensor:
    """Concatenate `x` (..., B, d) from all processes along dim -2, rank order; no gradient."""
    if not dist.is_initialized() or dist.get_world_size() == 1:
        return x
    parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, x.contiguous())
    return torch.cat(parts, dim=-2)
