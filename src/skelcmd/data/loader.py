"""Batches from a memory-mapped split: one fancy-indexed read per batch, no per-sample Python."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from skelcmd.data.format import Split
from skelcmd.errors import UserError


class SplitSamples(Dataset):
    """The samples of a split; `__getitems__` returns whole batches
    (data (B, 3, T, V, M) float32, lengths (B,) int64, labels (B,) int64), T cropped to the
    longest valid length of the split so padding is not read from disk."""

    def __init__(self, split: Split):
        self.split = split
        self.frames = int(split.lengths.max())

    def __len__(self) -> int:
        return len(self.split)

    def __getitems__(self, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        index = np.asarray(indices)
        data = np.ascontiguousarray(self.split.data[index, :, : self.frames])
        return (
            torch.from_numpy(data),
            torch.from_numpy(self.split.lengths[index].astype(np.int64)),
            torch.from_numpy(self.split.labels[index].astype(np.int64)),
        )

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        data, lengths, labels = self.__getitems__([index])
        return data[0], lengths[0], labels[0]


def _whole_batch(batch: tuple) -> tuple:
    return batch


def make_loader(
    split: Split,
    batch_size: int,
    *,
    shuffle: bool,
    drop_last: bool,
    workers: int = 0,
    seed: int = 0,
    rank: int = 0,
    world_size: int = 1,
) -> DataLoader:
    """A DataLoader over `split`; with `shuffle` the order depends only on (seed, epoch): call
    `loader.sampler.set_epoch(epoch)` each epoch. Sharded over `world_size` processes."""
    if drop_last and len(split) < batch_size * world_size:
        raise UserError(
            f"split {split.name!r} has {len(split)} samples, fewer than one batch of "
            f"{batch_size} x {world_size} process(es); lower optim.batch_size."
        )
    sampler = DistributedSampler(
        SplitSamples(split),
        num_replicas=world_size,
        rank=rank,
        shuffle=shuffle,
        seed=seed,
        drop_last=drop_last,
    )
    return DataLoader(
        sampler.dataset,
        batch_size=batch_size,
        sampler=sampler,
        drop_last=drop_last,
        num_workers=workers,
        collate_fn=_whole_batch,
        pin_memory=torch.cuda.is_available(),
        persistent_workers=workers > 0,
    )
