"""CMD: one MoCo v2 branch per modality, tied together by cross-modal mutual distillation.

The method never knows which network it wraps: it receives `encoder_factory`, a callable that
returns a fresh encoder (N, C, T, V, M) -> (N, feat_dim) with a `feat_dim` attribute, and
builds one branch per modality name from it. Per training step (`forward` in training mode):

1. every key encoder + head moves towards its query twin by EMA (momentum m), MoCo's order;
2. queries q (view 1, with gradients) and keys k (view 2, no gradients) for every modality;
3. losses against the queues as they were before this batch: InfoNCE per modality, plus
   `cmd.weight` * CMD over every ordered pair of modalities;
4. the keys, gathered across processes by `gather`, enter the queues (all in lockstep).

Step 2 runs all modalities' encoders in one call where their class can (`encode_all`): the
GRUs then step one batched recurrence for every modality on the CPU.

In eval mode `forward` computes the same losses with no side effects (no EMA, no enqueue).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from skelcmd.channels import num_channels
from skelcmd.config import PretrainConfig
from skelcmd.distributed import gather_batch
from skelcmd.encoders import build_encoder
from skelcmd.errors import UserError
from skelcmd.losses import CMDLossConfig, cmd_loss, info_nce, queue_similarities
from skelcmd.modalities import check_modalities, derive
from skelcmd.queue import FeatureQueue, momentum_update
from skelcmd.skeleton import Layout

__all__ = ["CMD", "Branch", "CMDLossConfig", "build_model", "projection_head"]


def _identity(t: Tensor) -> Tensor:
    return t


def projection_head(in_dim: int, out_dim: int, mlp: bool = True) -> nn.Module:
    """MoCo v2's head: Linear(D, D), ReLU, Linear(D, out_dim); a single Linear if not mlp.

    As in the reference, the last Linear (D -> out_dim) is made first and its weight drawn
    xavier-uniform (it is the encoder's `fc` there, which the MLP then wraps); its bias and
    the first Linear keep PyTorch's defaults.
    """
    last = nn.Linear(in_dim, out_dim)
    nn.init.xavier_uniform_(last.weight)
    if not mlp:
        return last
    return nn.Sequential(nn.Linear(in_dim, in_dim), nn.ReLU(inplace=True), last)


def encode_all(encoders: Sequence[nn.Module], inputs: Sequence[Tensor]) -> list[Tensor]:
    """Each encoder's features of its input, (N, C, T, V, M) -> (N, D). Encoders of one class
    that has an `encode_together(encoders, inputs)` static method (the GRUs: one batched
    recurrence for all modalities on the CPU) compute them in one go, others one by one."""
    kind = type(encoders[0])
    if hasattr(kind, "encode_together") and all(type(e) is kind for e in encoders):
        return list(kind.encode_together(encoders, inputs))
    return [encoder(x) for encoder, x in zip(encoders, inputs, strict=True)]


class Branch(nn.Module):
    """One modality's MoCo pair: query encoder + head, and their momentum copies (keys)."""

    def __init__(self, encoder: nn.Module, feature_dim: int, mlp: bool = True) -> None:
        super().__init__()
        if not isinstance(getattr(encoder, "feat_dim", None), int):
            raise TypeError(f"{type(encoder).__name__} needs an int attribute `feat_dim`")
        self.encoder_q = encoder
        self.head_q = projection_head(encoder.feat_dim, feature_dim, mlp)
        self.encoder_k = copy.deepcopy(self.encoder_q).requires_grad_(False)
        self.head_k = copy.deepcopy(self.head_q).requires_grad_(False)

    def query(self, x: Tensor) -> Tensor:
        """(N, C, T, V, M) -> (N, feature_dim) normalised query, with gradients."""
        return F.normalize(self.head_q(self.encoder_q(x)), dim=1)

    @torch.no_grad()
    def key(self, x: Tensor) -> Tensor:
        """(N, C, T, V, M) -> (N, feature_dim) normalised key of the momentum encoder."""
        return F.normalize(self.head_k(self.encoder_k(x)), dim=1)

    def update_key(self, m: float) -> None:
        """EMA of the key encoder and head parameters towards the query ones."""
        momentum_update(self.encoder_q, self.encoder_k, m)
        momentum_update(self.head_q, self.head_k, m)


class CMD(nn.Module):
    """Per-modality MoCo v2 with cross-modal mutual distillation (Mao et al., ECCV 2022).

    `branches[m]` holds modality m's Branch; `queue.features[i]` is the key queue of
    `modalities[i]`. `gather` maps this process's keys (P, N, d) to the global batch
    (P, N * world, d), concatenated along dim -2 in rank order (identity on one process;
    `skelcmd.distributed.gather_batch` under DDP); the queue size must be a multiple of
    that global batch.
    `channels` (`skelcmd.channels`: xyz, xy, xy+score) says what the input's C channels are.
    """

    def __init__(
        self,
        encoder_factory: Callable[[], nn.Module],
        modalities: Sequence[str],
        layout: Layout,
        feature_dim: int = 128,
        queue_size: int = 16384,
        momentum: float = 0.999,
        temperature: float = 0.07,
        cmd: CMDLossConfig | None = None,
        mlp: bool = True,
        gather: Callable[[Tensor], Tensor] = _identity,
        channels: str = "xyz",
    ) -> None:
        super().__init__()
        self.modalities = tuple(check_modalities(modalities))
        if not 0.0 <= momentum <= 1.0 or temperature <= 0:
            raise UserError(
                f"model.momentum ({momentum}) must lie in [0, 1] and model.temperature "
                f"({temperature}) must be > 0."
            )
        self.cmd = CMDLossConfig() if cmd is None else cmd
        if self.uses_cmd and self.cmd.mode == "kl" and self.cmd.topk > queue_size:
            raise UserError(
                f"cmd.topk={self.cmd.topk} exceeds the queue size K={queue_size}; lower "
                "cmd.topk or raise model.queue_size."
            )
        self.layout = layout
        self.channels = channels
        self.momentum = momentum
        self.temperature = temperature
        self.gather = gather
        self.branches = nn.ModuleDict(
            {m: Branch(encoder_factory(), feature_dim, mlp) for m in self.modalities}
        )
        self.queue = FeatureQueue(len(self.modalities), queue_size, feature_dim)

    @property
    def uses_cmd(self) -> bool:
        """Whether the distillation term is computed (weight > 0 and at least two streams)."""
        return self.cmd.weight > 0 and len(self.modalities) > 1

    def forward(self, view1: Tensor, view2: Tensor) -> dict[str, Tensor]:
        """Two views (N, C, T, V, M) of the same batch -> losses and logs.

        Returns "loss" (scalar to backpropagate) and detached scalars "loss/total",
        "loss/infonce/<m>", "acc/<m>" (fraction of rows whose positive logit is the largest),
        "loss/cmd" (unweighted) and "loss/cmd/<a>-><b>" for every ordered pair; CMD terms
        are 0 when not computed. In training mode also updates key encoders and queues.
        """
        x1 = derive(view1, self.modalities, self.layout, self.channels)
        x2 = derive(view2, self.modalities, self.layout, self.channels)
        branches = [self.branches[m] for m in self.modalities]
        if self.training:
            for branch in branches:
                branch.update_key(self.momentum)
        feats = encode_all([b.encoder_q for b in branches], [x1[m] for m in self.modalities])
        q = torch.stack(
            [F.normalize(b.head_q(f), dim=1) for b, f in zip(branches, feats, strict=True)]
        )
        with torch.no_grad():  # keys, from the momentum encoders
            feats = encode_all([b.encoder_k for b in branches], [x2[m] for m in self.modalities])
            k = torch.stack(
                [F.normalize(b.head_k(f), dim=1) for b, f in zip(branches, feats, strict=True)]
            )
        queue = self.queue.features.clone()  # the push below must not touch saved tensors

        similarities = queue_similarities(q, queue)  # (P, N, K), shared by InfoNCE and CMD

        logs: dict[str, Tensor] = {}
        infonce = []
        for i, m in enumerate(self.modalities):
            loss_m, logits = info_nce(q[i], k[i], queue[i], self.temperature, similarities[i])
            infonce.append(loss_m)
            logs[f"loss/infonce/{m}"] = loss_m.detach()
            logs[f"acc/{m}"] = (logits.argmax(dim=1) == 0).float().mean().detach()
        loss = torch.stack(infonce).sum()

        if self.uses_cmd:
            cfg = self.cmd
            cmd, pairs = cmd_loss(
                k,
                q,
                queue,
                cfg.topk,
                cfg.t_teacher,
                cfg.t_student,
                cfg.mode,
                self.modalities,
                student_similarities=similarities,
            )
            loss = loss + cfg.weight * cmd
        else:
            cmd = loss.new_zeros(())
            pair_names = [f"{a}->{b}" for a in self.modalities for b in self.modalities if a != b]
            pairs = dict.fromkeys(pair_names, cmd)
        logs["loss/cmd"] = cmd.detach()
        logs.update({f"loss/cmd/{name}": term.detach() for name, term in pairs.items()})
        logs["loss/total"] = loss.detach()

        if self.training:
            self.queue.push(self.gather(k))  # (P, N_global, d)
        return {"loss": loss, **logs}

    def encode(self, x: Tensor, modality: str) -> Tensor:
        """Joint input (N, C, T, V, M) -> (N, D) query-encoder features of `modality` (no head)."""
        if modality not in self.branches:
            raise UserError(
                f"modality {modality!r} was not pretrained; this model has {list(self.modalities)}."
            )
        x = derive(x, [modality], self.layout, self.channels)[modality]
        return self.branches[modality].encoder_q(x)


def build_model(
    config: PretrainConfig,
    layout: Layout,
    num_persons: int,
    device: torch.device | str = "cpu",
    channels: str = "xyz",
) -> CMD:
    """The CMD model of `config` on `device`, for input (N, C, T, V, M) of `channels`
    (`skelcmd.channels`), `layout` and `num_persons`."""
    encoder = partial(
        build_encoder,
        config.model.encoder,
        layout,
        num_persons,
        num_channels(channels),
        **config.model.encoder_args,
    )
    model = CMD(
        encoder,
        config.model.modalities,
        layout,
        feature_dim=config.model.feature_dim,
        queue_size=config.model.queue_size,
        momentum=config.model.momentum,
        temperature=config.model.temperature,
        cmd=config.cmd,
        mlp=config.model.mlp,
        gather=gather_batch,
        channels=channels,
    ).to(device)
    return model
