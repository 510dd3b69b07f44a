"""The two losses of CMD as pure functions: MoCo's InfoNCE and cross-modal mutual distillation.

Shapes: P streams (modalities), N samples in the batch, K queue slots, d feature size. Every
input vector is L2-normalised by the caller. Both losses run in float32 with autocast turned
off, whatever the dtype of their inputs, so mixed-precision training stays safe: the
temperatures (0.05 .. 0.1) would overflow float16 exponentials otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from skelcmd.errors import UserError

CMD_MODES = ("kl", "positive-mining")


@dataclass
class CMDLossConfig:
    """The cross-modal distillation term. `weight: 0` gives plain per-modality MoCo.

    mode "kl" is the paper's loss; "positive-mining" is its degenerate case (CrosSCLR-style
    top-1 neighbour used as an extra positive), kept for ablations.
    """

    weight: float = 1.0
    topk: int = 8192
    t_teacher: float = 0.05
    t_student: float = 0.1
    mode: str = "kl"

    def __post_init__(self) -> None:
        if self.mode not in CMD_MODES:
            raise UserError(f"cmd.mode is {self.mode!r}; choose one of {list(CMD_MODES)}.")
        if self.weight < 0:
            raise UserError(f"cmd.weight is {self.weight}; it must be >= 0 (0 turns CMD off).")
        if self.topk < 1:
            raise UserError(f"cmd.topk is {self.topk}; it must be a positive number of slots.")
        if self.t_teacher <= 0 or self.t_student <= 0:
            raise UserError(
                f"cmd.t_teacher ({self.t_teacher}) and cmd.t_student ({self.t_student}) "
                "must both be > 0."
            )


def _no_autocast(t: Tensor) -> torch.autocast:
    return torch.autocast(device_type=t.device.type, enabled=False)


def queue_similarities(q: Tensor, queues: Tensor) -> Tensor:
    """q (P, N, d) against the queues (P, K, d) -> (P, N, K) float32 dot products, with
    gradients into q. InfoNCE's negatives and CMD's student similarities are this same
    product: compute it once and pass it to both."""
    with _no_autocast(q):
        return torch.bmm(q.float(), queues.detach().float().transpose(1, 2))


def info_nce(
    q: Tensor, k: Tensor, queue: Tensor, temperature: float, negatives: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """MoCo v2 InfoNCE: each query against its own key (positive) and the K queue slots.

    q, k: (N, d) normalised queries and keys; queue: (K, d). Returns the batch-mean cross
    entropy with label 0 and the logits (N, 1 + K) = [q·k, q·queue] / temperature, float32.
    Gradients flow into q only (keys and queue are detached). `negatives` (N, K): q·queue
    already computed (see `queue_similarities`).
    """
    with _no_autocast(q):
        q, k, queue = q.float(), k.detach().float(), queue.detach().float()
        positive = (q * k).sum(dim=1, keepdim=True)
        negatives = q @ queue.T if negatives is None else negatives.float()
        logits = torch.cat([positive, negatives], dim=1) / temperature
        labels = torch.zeros(len(q), dtype=torch.long, device=q.device)
        return F.cross_entropy(logits, labels), logits


def _pairs(p: int) -> tuple[Tensor, Tensor]:
    """Indices (teacher a, student b) of the P * (P - 1) ordered pairs a != b, row-major, CPU."""
    return (~torch.eye(p, dtype=torch.bool)).nonzero(as_tuple=True)


def cmd_loss(
    teacher_keys: Tensor,
    student_queries: Tensor,
    queues: Tensor,
    topk: int,
    t_teacher: float,
    t_student: float,
    mode: str = "kl",
    names: Sequence[str] | None = None,
    student_similarities: Tensor | None = None,
) -> tuple[Tensor, dict[str, Tensor]]:
    """Cross-modal mutual distillation summed over every ordered pair (teacher a, student b).

    teacher_keys: (P, N, d) keys k_a; student_queries: (P, N, d) queries q_b; queues: (P, K, d)
    the queues Q_m, slot i holding the same sample in every stream. Teacher keys and queues
    are detached: gradients reach the student queries only.

    mode "kl" (the paper): I = topk(k_a · Q_a^T, topk) per row, then
        term(a, b) = mean_n KL(softmax(k_a·Q_a[I] / t_teacher) || softmax(q_b·Q_b[I] / t_student)).
    mode "positive-mining" (the degenerate case): j* = argmax_j k_a · Q_a[j] and
        term(a, b) = mean_n CE( [q_b·k_b, q_b·Q_b] / t_student, target ),
    where target is two-hot: 1/2 on the positive key k_b, 1/2 on queue slot j* (hard targets
    from the teacher's top-1 neighbour). `topk` is unused there.

    `student_similarities` (P, N, K): q_b · Q_b already computed (see `queue_similarities`).
    Returns (total, per_pair): total is the unweighted sum over pairs (0 with P = 1) and
    per_pair maps "a->b" (names[a], names[b]; stream indices when names is None) to its term.
    """
    p, _, _ = student_queries.shape
    names = [str(i) for i in range(p)] if names is None else list(names)
    if topk > queues.shape[1] and mode == "kl":
        raise UserError(
            f"cmd.topk={topk} exceeds the queue size K={queues.shape[1]}; lower cmd.topk or "
            "raise model.queue_size."
        )
    if mode not in CMD_MODES:
        raise UserError(f"cmd mode is {mode!r}; choose one of {list(CMD_MODES)}.")
    with _no_autocast(student_queries):
        keys = teacher_keys.detach().float()
        queues = queues.detach().float()
        q = student_queries.float()
        pair_a, pair_b = _pairs(p)
        a, b = pair_a.to(q.device), pair_b.to(q.device)
        teacher = torch.bmm(keys, queues.transpose(1, 2))  # (P, N, K)
        student = (
            torch.bmm(q, queues.transpose(1, 2))
            if student_similarities is None
            else student_similarities.float()
        )  # (P, N, K)
        if mode == "kl":
            # (P, N, topk) in no particular order: the terms are sums over the set, and
            # sorting it took most of the top-k's time on the CPU
            top, index = teacher.topk(topk, dim=-1, sorted=False)
            log_pt = F.log_softmax(top / t_teacher, dim=-1)[a]  # (pairs, N, topk)
            s_student = student[b].gather(-1, index[a])  # student b at teacher a's slots
            log_ps = F.log_softmax(s_student / t_student, dim=-1)
            terms = (log_pt.exp() * (log_pt - log_ps)).sum(-1).mean(-1)  # (pairs,)
        else:
            j = teacher.argmax(dim=-1)  # (P, N) top-1 neighbour per teacher
            positive = (q * keys).sum(-1, keepdim=True)  # (P, N, 1)
            log_p = F.log_softmax(torch.cat([positive, student], -1) / t_student, dim=-1)
            mined = log_p[b].gather(-1, 1 + j[a].unsqueeze(-1)).squeeze(-1)  # (pairs, N)
            terms = -0.5 * (log_p[b][..., 0] + mined).mean(-1)
    per_pair = {
        f"{names[i]}->{names[k]}": term
        for i, k, term in zip(pair_a.tolist(), pair_b.tolist(), terms.unbind(), strict=True)
    }
    return terms.sum(), per_pair
