"""ST-GCN (Yan et al. 2018) as SkeletonCLR / CrosSCLR / AimCLR use it as a contrastive encoder.

Ten blocks of widths w, w, w, w, 2w, 2w, 2w, 4w, 4w, 4w (temporal stride 2 at the first 2w and
the first 4w block). Those methods use w = 16 and let the last block output 256 channels
(`out_dim=256`, the default); the original ST-GCN has w = 64 and no `out_dim` (`out_dim=None`).
Each block: a graph convolution over K = 3 spatial partitions of the layout's graph (root,
centripetal, centrifugal), BN, ReLU, a temporal convolution (kernel 9), BN, dropout, a residual
connection and a ReLU. Every block has a learnable edge importance (K, V, V), initialised to 1,
that scales the normalised adjacency. The input goes through a BatchNorm over its M * V * C
channels first; persons are folded into the batch, and the output is mean-pooled over time,
joints and then persons. Convolutions that feed a BatchNorm directly have no bias (it would be
cancelled by the BatchNorm and never learn).

Initialisation: PyTorch's defaults for every layer. The CMD reference has no ST-GCN, so there
is no rule of its to follow; SkeletonCLR's and CrosSCLR's pretraining scripts instead draw
every convolution and Linear weight from N(0, 0.02) with zero biases and BatchNorm scales
from N(1, 0.02), which this module does not copy.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from skelcmd.errors import UserError
from skelcmd.skeleton import Layout

TEMPORAL_KERNEL = 9


def spatial_partitions(layout: Layout) -> np.ndarray:
    """(3, V, V) normalised adjacency split by distance to the layout's centre joint.

    Entry [k, v, w] weighs joint v's message to joint w (`out[w] = sum_v x[v] A[k, v, w]`):
    k = 0 the joint itself, k = 1 a neighbour v no nearer the centre than w (the "centripetal"
    group of ST-GCN's code, which also holds neighbours at the same distance), k = 2 a
    neighbour nearer the centre. The adjacency with self-loops is divided by the in-degree of
    w, so for every w the entries over k and v sum to 1.
    """
    hops = layout.hop_distance()
    neighbours = (hops <= 1).astype(np.float32)  # with self-loops
    norm = neighbours / neighbours.sum(axis=0, keepdims=True)
    to_center = hops[:, layout.center]
    d_from, d_to = to_center[:, None], to_center[None, :]
    edge = hops == 1
    return np.stack(
        [
            norm * (hops == 0),
            norm * (edge & (d_from >= d_to)),
            norm * (edge & (d_from < d_to)),
        ]
    ).astype(np.float32)


class STGCNBlock(nn.Module):
    """Graph convolution + temporal convolution + residual: (N, Cin, T, V) -> (N, Cout, T', V)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        num_partitions: int,
        stride: int = 1,
        residual: bool = True,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.num_partitions = num_partitions
        self.gcn = nn.Conv2d(in_channels, out_channels * num_partitions, kernel_size=1)
        pad = (TEMPORAL_KERNEL - 1) // 2
        self.tcn = nn.Sequential(
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(
                out_channels, out_channels, (TEMPORAL_KERNEL, 1), (stride, 1), (pad, 0), bias=False
            ),
            nn.BatchNorm2d(out_channels),
            nn.Dropout(dropout, inplace=True),
        )
        self.residual: nn.Module | None
        if not residual:
            self.residual = None
        elif in_channels == out_channels and stride == 1:
            self.residual = nn.Identity()
        else:
            self.residual = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=(stride, 1), bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: Tensor, adjacency: Tensor) -> Tensor:
        """x (N, Cin, T, V), adjacency (K, V, V) -> (N, Cout, T', V)."""
        n, _, t, v = x.shape
        y = self.gcn(x).view(n, self.num_partitions, -1, t, v)
        y = self.tcn(torch.einsum("nkctv,kvw->nctw", y, adjacency))
        if self.residual is not None:
            y = y + self.residual(x)
        return F.relu(y)


class STGCN(nn.Module):
    """ST-GCN encoder: (N, C, T, V, M) -> (N, feat_dim), feat_dim = out_dim or 4 * width."""

    def __init__(
        self,
        layout: Layout,
        num_persons: int = 2,
        in_channels: int = 3,
        width: int = 16,
        out_dim: int | None = 256,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        w = width
        last = out_dim or 4 * w
        widths = [w, w, w, w, 2 * w, 2 * w, 2 * w, 4 * w, 4 * w, last]
        strides = [1, 1, 1, 1, 2, 1, 1, 2, 1, 1]
        adjacency = torch.from_numpy(spatial_partitions(layout))
        self.register_buffer("adjacency", adjacency, persistent=False)
        self.expected = (in_channels, layout.num_joints, num_persons)
        self.data_bn = nn.BatchNorm1d(num_persons * layout.num_joints * in_channels)
        ins = [in_channels, *widths[:-1]]
        self.blocks = nn.ModuleList(
            STGCNBlock(cin, cout, len(adjacency), s, residual=i > 0, dropout=dropout)
            for i, (cin, cout, s) in enumerate(zip(ins, widths, strides, strict=True))
        )
        self.edge_importance = nn.ParameterList(
            nn.Parameter(torch.ones_like(adjacency)) for _ in self.blocks
        )
        self.feat_dim = last

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 5 or (x.shape[1], x.shape[3], x.shape[4]) != self.expected:
            c, v, m = self.expected
            raise UserError(
                f"STGCN was built for input (N, C={c}, T, V={v}, M={m}) but got "
                f"{tuple(x.shape)}; check the layout, num_persons and in_channels settings."
            )
        n, c, t, v, m = x.shape
        x = self.data_bn(x.permute(0, 4, 3, 1, 2).reshape(n, m * v * c, t))
        x = x.view(n, m, v, c, t).permute(0, 1, 3, 4, 2).reshape(n * m, c, t, v)
        for block, importance in zip(self.blocks, self.edge_importance, strict=True):
            x = block(x, self.adjacency * importance)
        return x.mean(dim=(2, 3)).view(n, m, -1).mean(dim=1)
