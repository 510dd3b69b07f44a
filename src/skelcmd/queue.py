"""The memory of MoCo: one key queue per stream, advancing in lockstep, and the EMA update."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from skelcmd.errors import UserError


class FeatureQueue(nn.Module):
    """P queues of K L2-normalised d-dim keys sharing one write pointer.

    Buffers: `features` (P, K, d), initialised with random unit vectors as in MoCo, and `ptr`
    (a long scalar). Because the streams share `ptr` and are written together, slot i holds
    the same sample in every stream (the cross-modal losses rely on it).
    """

    def __init__(self, num_streams: int, size: int, dim: int) -> None:
        super().__init__()
        if num_streams < 1 or size < 1 or dim < 1:
            raise UserError(
                f"a feature queue needs at least one stream, slot and dimension; got "
                f"num_streams={num_streams}, size={size}, dim={dim}."
            )
        self.register_buffer("features", F.normalize(torch.randn(num_streams, size, dim), dim=-1))
        self.register_buffer("ptr", torch.zeros((), dtype=torch.long))

    @property
    def num_streams(self) -> int:
        return self.features.shape[0]

    @property
    def size(self) -> int:
        return self.features.shape[1]

    @property
    def dim(self) -> int:
        return self.features.shape[2]

    @torch.no_grad()
    def push(self, keys: Tensor) -> None:
        """Write keys (P, B, d) to slots ptr .. ptr + B - 1 of every stream; ptr += B mod K.

        B is the global batch (keys already gathered across processes) and must divide K.
        Stays on the device: no host synchronisation.
        """
        p, b, d = keys.shape
        if (p, d) != (self.num_streams, self.dim):
            raise ValueError(
                f"keys of shape {tuple(keys.shape)} do not fit a queue of "
                f"{self.num_streams} streams x {self.size} slots x {self.dim} dims"
            )
        if self.size % b != 0:
            raise UserError(
                f"queue size K={self.size} must be a multiple of the global batch size B={b} "
                "(batch per process x processes); change model.queue_size or the batch size."
            )
        slots = (self.ptr + torch.arange(b, device=self.ptr.device)) % self.size
        self.features[:, slots] = keys.detach().to(self.features.dtype)
        self.ptr.add_(b).remainder_(self.size)


@torch.no_grad()
def momentum_update(online: nn.Module, target: nn.Module, m: float) -> None:
    """EMA of parameters, target = m * target + (1 - m) * online; buffers left alone.

    As in MoCo and the CMD reference, only parameters are averaged: the target's buffers
    (BatchNorm running statistics, counters) are its own, tracked by its forward passes in
    training mode. The key encoder normalises with batch statistics, so they never enter
    the loss; evaluation uses the query encoder's.
    """
    pairs = zip(online.named_parameters(), target.named_parameters(), strict=True)
    for (name, o), (target_name, t) in pairs:
        if name != target_name or o.shape != t.shape:
            raise ValueError(f"momentum_update: parameter {name!r} does not match {target_name!r}")
        t.mul_(m).add_(o.detach(), alpha=1.0 - m)
