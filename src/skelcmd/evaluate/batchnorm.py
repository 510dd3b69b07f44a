"""BatchNorm statistics of an untrained encoder, recomputed on data (the honest random-init
baseline).

A freshly initialised BatchNorm holds running mean 0 and variance 1, so in eval mode it is the
identity whatever the data: an untrained GRU sees motion (frame differences of a few mm) at
that tiny scale, and an untrained ST-GCN's signal shrinks through its blocks until every clip
gives nearly the same feature. Pretraining would have replaced those statistics with the
data's; the baseline gets the same, without labels or gradients: forward passes over a split's
evaluation clips (95 % centre crop, resized) with every BatchNorm of the query encoders in
train mode and `momentum=None`, PyTorch's cumulative average of the batch statistics (each
batch weighs the same). Everything else stays in eval mode (dropout off), no parameter changes,
and the BatchNorms' momentum and the model's modes are restored afterwards.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from skelcmd.data.format import Split
from skelcmd.evaluate.features import evaluating, map_split, model_device
from skelcmd.model import CMD
from skelcmd.names import EVAL_CROP, EVAL_FRAMES

__all__ = ["batchnorms", "recompute_batchnorm"]


def batchnorms(module: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    """Every BatchNorm (1d, 2d, 3d, SyncBatchNorm) below `module` that tracks running stats."""
    return [
        m
        for m in module.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats
    ]


@torch.no_grad()
def recompute_batchnorm(
    model: CMD,
    split: Split,
    modalities: Sequence[str] | None = None,
    *,
    batch_size: int = 256,
    ratio: float = EVAL_CROP,
    out_frames: int = EVAL_FRAMES,
    workers: int = 0,
    progress: bool = False,
) -> int:
    """Replace the running statistics of every BatchNorm in the query encoders of `modalities`
    (default: all of the model's) by their cumulative average over the evaluation clips of
    `split`, read once in order in batches of `batch_size`; return how many BatchNorms.

    Each batch (B, C, out_frames, V, M) passes through `model.encode`, so a BatchNorm's
    statistics are those of its input as the encoder computes it with batch statistics in the
    BatchNorms before it (as in training).
    """
    modalities = list(model.modalities if modalities is None else modalities)
    norms = [bn for m in modalities for bn in batchnorms(model.branches[m].encoder_q)]
    momenta = [bn.momentum for bn in norms]
    with evaluating(model):
        for bn in norms:
            bn.reset_running_stats()
            bn.momentum = None
            bn.train()
        try:  # only the passes matter: each fn keeps none of its (B, D) features
            map_split(
                {m: (lambda clips, m=m: model.encode(clips, m)[:, :0]) for m in modalities},
                split,
                batch_size=batch_size,
                device=model_device(model),
                ratio=ratio,
                out_frames=out_frames,
                workers=workers,
                progress=progress,
                desc=f"BatchNorm statistics {split.name}",
            )
        finally:
            for bn, momentum in zip(norms, momenta, strict=True):
                bn.momentum = momentum
    return len(norms)
